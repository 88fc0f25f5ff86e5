// A real did:plc directory for tests: @did-plc/server (the reference implementation)
// over its in-memory database, which validates operations exactly like the
// Postgres one (signatures, DID derivation, prev chain, nullification).
//
//   node server.js            listen on 127.0.0.1 on a free port
//
// Prints "listening <port>" on stdout once it accepts connections. Exits when
// its standard input closes (the test that spawned it ended) or on SIGTERM.
'use strict'

const { PlcServer, Database } = require('@did-plc/server')

const plc = PlcServer.create({ db: Database.mock(), port: 0 })
const server = plc.app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`)
})
server.on('error', (err) => {
  process.stderr.write(`plc directory: ${err.message}\n`)
  process.exit(1)
})

const stop = () => process.exit(0)
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
