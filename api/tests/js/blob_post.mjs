// The official @atproto/api client uploading an image and posting it, as an
// app does: log in, uploadBlob a small real PNG built here, post it as an
// app.bsky.embed.images embed, then read everything back.
// Usage: node blob_post.mjs <service URL> <handle> <password>
// Checks: the returned blob ref (CID computed here from the bytes, MIME
// type, size); the posted record's embed carries the same ref; getBlob
// returns the exact bytes with Content-Type image/png; listBlobs lists the
// CID; a post referencing a blob that was never uploaded is refused (400
// InvalidRequest). Prints one JSON line: {"ok":true,...} or
// {"ok":false,"failures":[...]} (then exits 1).
import { createHash } from 'node:crypto'
import * as zlib from 'node:zlib'
import { AtpAgent } from '@atproto/api'

const [service, handle, password] = process.argv.slice(2)
if (!service || !handle || !password) {
  console.error('usage: blob_post.mjs <service> <handle> <password>')
  process.exit(2)
}

const failures = []
const check = (cond, what, details) => {
  if (!cond) failures.push(details === undefined ? what : { what, details })
  return cond
}

// CRC-32 (ISO-HDLC, as PNG uses: reflected polynomial 0xEDB88320).
const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc32(bytes) {
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

// One PNG chunk: length, type, data, CRC over type and data.
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'latin1')
  Buffer.from(data).copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

// A width x height 8-bit RGB PNG with a colour gradient.
function makePng(width, height) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // colour type: RGB
  // compression 0, filter 0, interlace 0
  const raw = Buffer.alloc(height * (1 + width * 3))
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3)
    raw[row] = 0 // filter: none
    for (let x = 0; x < width; x++) {
      const p = row + 1 + x * 3
      raw[p] = (x * 255) / (width - 1)
      raw[p + 1] = (y * 255) / (height - 1)
      raw[p + 2] = ((x + y) * 7) & 0xff
    }
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

// RFC 4648 base32, lower case, no padding (multibase `b`).
function base32(bytes) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let out = ''
  let bits = 0
  let value = 0
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

// The blob CID of `bytes` (specs/blob.md): CIDv1, raw codec, sha2-256, base32.
function blobCid(bytes) {
  const digest = createHash('sha256').update(bytes).digest()
  return 'b' + base32(Buffer.concat([Buffer.from([0x01, 0x55, 0x12, 0x20]), digest]))
}

// A blob ref's CID as a string, whether parsed into a CID object or raw JSON.
const refCid = (blob) => (blob?.ref?.$link !== undefined ? blob.ref.$link : String(blob?.ref))

const agent = new AtpAgent({ service })
await agent.login({ identifier: handle, password })
const did = agent.session.did

// The PNG: 24 x 16, deterministic; its CRCs are checked against zlib's when node has it.
const width = 24
const height = 16
const png = makePng(width, height)
if (typeof zlib.crc32 === 'function') {
  const sample = png.subarray(12, 29) // IHDR's type and data
  const [ours, theirs] = [crc32(sample), zlib.crc32(sample)]
  check(ours === theirs, 'our CRC-32 agrees with zlib', { ours, theirs })
}
const expectedCid = blobCid(png)
const uploaded = await agent.uploadBlob(png, { encoding: 'image/png' })
const blob = uploaded.data.blob
check(refCid(blob) === expectedCid, 'uploadBlob ref is the CID of the bytes', { got: refCid(blob), expectedCid })
check(blob.mimeType === 'image/png', 'uploadBlob mimeType', blob.mimeType)
check(blob.size === png.length, 'uploadBlob size', { got: blob.size, expected: png.length })

const alt = 'a gradient, made by blob_post.mjs'
const text = 'an image from the official client'
const posted = await agent.post({
  text,
  embed: {
    $type: 'app.bsky.embed.images',
    images: [{ alt, image: blob, aspectRatio: { width, height } }],
  },
})
const rkey = posted.uri.split('/').pop()
check(posted.uri === `at://${did}/app.bsky.feed.post/${rkey}`, 'post uri', posted.uri)

// The record as stored: the embed's ref is the upload's.
const record = await agent.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey })
check(record.data.cid === posted.cid, 'getRecord cid is the post cid', { got: record.data.cid, expected: posted.cid })
const value = record.data.value
const image = value?.embed?.images?.[0]
check(value?.text === text, 'record text', value?.text)
check(value?.embed?.$type === 'app.bsky.embed.images', 'embed $type', value?.embed?.$type)
check(image?.alt === alt, 'image alt', image?.alt)
check(
  image?.aspectRatio?.width === width && image?.aspectRatio?.height === height,
  'image aspectRatio',
  image?.aspectRatio,
)
const stored = image?.image
check(refCid(stored) === expectedCid, 'record blob ref', refCid(stored))
check(stored?.mimeType === 'image/png', 'record blob mimeType', stored?.mimeType)
check(stored?.size === png.length, 'record blob size', stored?.size)
const json = JSON.parse(JSON.stringify(stored?.original ?? stored ?? null))
check(json?.$type === 'blob', 'record blob $type', json)

// The bytes back, exactly.
const got = await agent.com.atproto.sync.getBlob({ did, cid: expectedCid })
const bytes = Buffer.from(got.data)
check(bytes.equals(png), 'getBlob bytes', { gotLength: bytes.length, expectedLength: png.length })
check(got.headers['content-type'] === 'image/png', 'getBlob content-type', got.headers['content-type'])

// listBlobs has it (every page).
const listed = []
let cursor
do {
  const page = await agent.com.atproto.sync.listBlobs({ did, cursor, limit: 100 })
  listed.push(...page.data.cids)
  cursor = page.data.cursor
} while (cursor)
check(listed.includes(expectedCid), 'listBlobs contains the CID', listed)

// A post whose image was never uploaded is refused.
const ghost = Buffer.concat([png, Buffer.from('never uploaded')])
const ghostCid = blobCid(ghost)
let refusal = null
try {
  await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'app.bsky.feed.post',
    record: {
      $type: 'app.bsky.feed.post',
      text: 'this image was never uploaded',
      createdAt: new Date().toISOString(),
      embed: {
        $type: 'app.bsky.embed.images',
        images: [
          {
            alt: 'ghost',
            image: { $type: 'blob', ref: { $link: ghostCid }, mimeType: 'image/png', size: ghost.length },
          },
        ],
      },
    },
  })
  refusal = { accepted: true }
} catch (e) {
  refusal = { status: e.status, error: e.error, message: e.message }
}
check(refusal.status === 400 && refusal.error === 'InvalidRequest', 'a post with an unknown blob is refused', refusal)
const after = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post' })
check(after.data.records.length === 1, 'only the real post is in the repo', after.data.records.map((r) => r.uri))
const listedAfter = (await agent.com.atproto.sync.listBlobs({ did })).data.cids
check(!listedAfter.includes(ghostCid), 'listBlobs does not list the unknown blob', listedAfter)

if (failures.length > 0) {
  console.log(JSON.stringify({ ok: false, failures }))
  process.exit(1)
}
console.log(
  JSON.stringify({
    ok: true,
    did,
    uri: posted.uri,
    cid: expectedCid,
    mimeType: blob.mimeType,
    size: blob.size,
    downloaded: bytes.length,
    listed: listed.length,
    refused: refusal,
  }),
)
