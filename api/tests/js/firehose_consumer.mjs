// An independent firehose consumer: @atproto/sync's Firehose reads
// subscribeRepos from cursor 0 and validates every #commit (signature and
// MST proofs of each op, verifyProofs) with the keys given. Prints one JSON
// line of counts when `want` commits were parsed, then exits.
//
// node firehose_consumer.mjs <ws base url> <want commits> <keys JSON {did: did:key}>
import { Firehose } from '@atproto/sync'

const [service, wantText, keysJson] = process.argv.slice(2)
const want = Number(wantText)
const keys = JSON.parse(keysJson)
const idResolver = {
  did: {
    resolveAtprotoKey: async (did) => {
      if (!keys[did]) throw new Error(`unknown DID ${did}`)
      return keys[did]
    },
    resolve: async (did) => ({ id: did, alsoKnownAs: [], verificationMethod: [], service: [] }),
  },
  handle: { resolve: async () => undefined },
}
const counts = { create: 0, update: 0, delete: 0, sync: 0, identity: 0, account: 0, ops: 0, errors: [] }
let done = false
const firehose = new Firehose({
  service,
  idResolver,
  unauthenticatedHandles: true,
  // From cursor 0, through the EventRunner interface (its getCursor is what
  // this version of the package reads).
  runner: { getCursor: () => 0, trackEvent: async (_did, _seq, handler) => handler() },
  handleEvent: async (evt) => {
    counts[evt.event] = (counts[evt.event] ?? 0) + 1
    if (['create', 'update', 'delete'].includes(evt.event)) {
      counts.ops += 1
    }
    if (counts.ops >= want && !done) {
      done = true
      console.log(JSON.stringify(counts))
      await firehose.destroy()
      process.exit(0)
    }
  },
  onError: (err) => {
    counts.errors.push(String(err && err.message ? err.message : err) + (err && err.cause ? ` (${err.cause.stack ?? err.cause})` : ""))
    console.log(JSON.stringify(counts))
    process.exit(1)
  },
})
setTimeout(() => {
  console.log(JSON.stringify({ ...counts, timeout: true }))
  process.exit(2)
}, 30000)
firehose.start()
