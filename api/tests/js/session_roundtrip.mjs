// The official @atproto/api client logging in to a running primal-pds as the
// account itself (no admin key): handle + password, then an app password.
// Usage: node session_roundtrip.mjs <service URL> <handle> <password>
// Each session posts, lists, deletes, refreshes (the spent refresh token is
// then refused) and logs out (the logged-out refresh token is refused).
// Prints one JSON line with what it checked; exits non-zero on the first failure.
import { AtpAgent } from '@atproto/api'

const [service, handle, password] = process.argv.slice(2)
if (!service || !handle || !password) {
  console.error('usage: session_roundtrip.mjs <service> <handle> <password>')
  process.exit(2)
}
const check = (cond, what) => {
  if (!cond) throw new Error(`check failed: ${what}`)
}

// A refresh token must be refused once spent or logged out.
async function refusedRefresh(refreshJwt) {
  const probe = new AtpAgent({ service })
  try {
    await probe.com.atproto.server.refreshSession(undefined, { headers: { authorization: `Bearer ${refreshJwt}` } })
    return false
  } catch (e) {
    return e.status === 401
  }
}

async function roundTrip(secret, label) {
  const agent = new AtpAgent({ service })
  const login = await agent.login({ identifier: handle, password: secret })
  check(login.success, `${label}: login`)
  const did = agent.session.did
  check(agent.session.handle === handle, `${label}: session handle`)
  const who = await agent.com.atproto.server.getSession()
  check(who.data.did === did, `${label}: getSession`)

  const posted = []
  for (let i = 0; i < 2; i++) {
    const res = await agent.post({ text: `${label} post ${i}`, createdAt: new Date().toISOString() })
    check(res.uri.startsWith(`at://${did}/app.bsky.feed.post/`), `${label}: post uri ${res.uri}`)
    posted.push(res)
  }
  const listed = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post' })
  const uris = listed.data.records.map((r) => r.uri)
  check(posted.every((p) => uris.includes(p.uri)), `${label}: listRecords has the posts`)
  await agent.deletePost(posted[0].uri)
  const after = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post' })
  check(!after.data.records.some((r) => r.uri === posted[0].uri), `${label}: deleted post gone`)

  const spent = agent.session.refreshJwt
  const refreshed = await agent.com.atproto.server.refreshSession(undefined, {
    headers: { authorization: `Bearer ${spent}` },
  })
  check(refreshed.data.refreshJwt !== spent, `${label}: refresh gives a new refresh token`)
  check(await refusedRefresh(spent), `${label}: spent refresh token refused`)
  // Continue with the refreshed session: it writes.
  const agent2 = new AtpAgent({ service })
  await agent2.resumeSession({ ...refreshed.data, active: true })
  const again = await agent2.post({ text: `${label} after refresh`, createdAt: new Date().toISOString() })
  check(again.uri.startsWith(`at://${did}/`), `${label}: post after refresh`)

  const last = agent2.session.refreshJwt
  await agent2.logout()
  check(await refusedRefresh(last), `${label}: logged-out refresh token refused`)
  return { agent, did, posts: uris.length }
}

const main = await roundTrip(password, 'password')
// An app password, made with a password session, then used like a password.
const maker = new AtpAgent({ service })
await maker.login({ identifier: handle, password })
const app = await maker.com.atproto.server.createAppPassword({ name: 'js-client' })
check(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/.test(app.data.password), 'app password shape')
const viaApp = await roundTrip(app.data.password, 'app-password')
const listedApps = await maker.com.atproto.server.listAppPasswords()
check(listedApps.data.passwords.some((p) => p.name === 'js-client'), 'listAppPasswords')
await maker.com.atproto.server.revokeAppPassword({ name: 'js-client' })
let revoked = false
try {
  await new AtpAgent({ service }).login({ identifier: handle, password: app.data.password })
} catch (e) {
  revoked = e.status === 401
}
check(revoked, 'a revoked app password cannot log in')
await maker.logout()
console.log(JSON.stringify({ ok: true, did: main.did, passwordPosts: main.posts, appPasswordPosts: viaApp.posts }))
