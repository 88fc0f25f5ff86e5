// The official atproto client libraries against a running primal-pds.
// Usage: node client_roundtrip.mjs <service URL> <admin key> <repo DID> <signing did:key>
// Writes and reads records with @atproto/api (admin key as the bearer, until
// sessions exist), then verifies the exported repository CAR, its commit
// signature and a record proof with @atproto/repo. Prints one JSON line with
// what it checked; exits non-zero on the first failure.
import { AtpAgent } from '@atproto/api'
import { verifyRepoCar, verifyRecords } from '@atproto/repo'

const [service, adminKey, did, didKey] = process.argv.slice(2)
if (!service || !adminKey || !did || !didKey) {
  console.error('usage: client_roundtrip.mjs <service> <adminKey> <did> <did:key>')
  process.exit(2)
}
const auth = { headers: { authorization: `Bearer ${adminKey}` } }
const agent = new AtpAgent({ service })
const check = (cond, what) => {
  if (!cond) throw new Error(`check failed: ${what}`)
}

const posts = []
for (let i = 0; i < 3; i++) {
  const res = await agent.com.atproto.repo.createRecord(
    {
      repo: did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: `hello ${i} from @atproto/api`, createdAt: new Date().toISOString() },
    },
    auth,
  )
  check(res.data.uri.startsWith(`at://${did}/app.bsky.feed.post/`), `createRecord uri ${res.data.uri}`)
  check(res.data.validationStatus === 'valid', `validationStatus ${res.data.validationStatus}`)
  posts.push(res.data)
}
const profile = await agent.com.atproto.repo.putRecord(
  {
    repo: did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: 'Client test' },
  },
  auth,
)
const rkey0 = posts[0].uri.split('/').pop()
const got = await agent.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: rkey0 })
check(got.data.cid === posts[0].cid, 'getRecord cid equals createRecord cid')
check(got.data.value.text === 'hello 0 from @atproto/api', 'getRecord value')

await agent.com.atproto.repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: rkey0 }, auth)
const list = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 10 })
check(list.data.records.length === 2, `listRecords after delete: ${list.data.records.length}`)

const described = await agent.com.atproto.repo.describeRepo({ repo: did })
check(described.data.did === did, 'describeRepo did')
check(described.data.collections.includes('app.bsky.actor.profile'), 'describeRepo collections')

const latest = await agent.com.atproto.sync.getLatestCommit({ did })
const car = await agent.com.atproto.sync.getRepo({ did })
const verified = await verifyRepoCar(new Uint8Array(car.data), did, didKey)
check(verified.commit.rev === latest.data.rev, `getRepo rev ${verified.commit.rev} vs ${latest.data.rev}`)
const paths = verified.creates.map((c) => `${c.collection}/${c.rkey}`).sort()
check(paths.length === 3, `records in the exported repo: ${paths.join(',')}`)

const rkey1 = posts[1].uri.split('/').pop()
const proof = await agent.com.atproto.sync.getRecord({ did, collection: 'app.bsky.feed.post', rkey: rkey1 })
const claims = await verifyRecords(new Uint8Array(proof.data), did, didKey)
check(claims.length === 1 && claims[0].rkey === rkey1, 'record proof verifies')

console.log(JSON.stringify({ ok: true, rev: latest.data.rev, records: paths, profileCid: profile.data.cid }))
