// A Node service using the gateway with @grpc/grpc-js, loading proto/ at run
// time with @grpc/proto-loader: lists locks, locks a door while printing each
// streamed status, and prints the ErrorInfo reason of a failed call.
//
//   npm ci && node client.js 127.0.0.1:50051 august_device_1
//
// Over TLS (--ca-cert), with a client certificate (mutual TLS: --client-cert,
// --client-key) and/or a JWT read from a file on every call (--token-file, e.g.
// a Kubernetes projected service-account token, which the kubelet renews):
//
//   node client.js gateway:50051 --ca-cert ca.crt --client-cert frontdesk.crt \
//     --client-key frontdesk.key --token-file token.jwt
'use strict'

const fs = require('node:fs')
const { parseArgs } = require('node:util')

const path = require('node:path')
const grpc = require('@grpc/grpc-js')
const protoLoader = require('@grpc/proto-loader')
const protobuf = require('protobufjs')

const repo = path.resolve(__dirname, '..', '..')
const definition = protoLoader.loadSync(['seam/v1/lock_service.proto'], {
  includeDirs: [path.join(repo, 'proto')],
  keepCase: true,
  enums: String,
  longs: String,
  oneofs: true,
})
const seam = grpc.loadPackageDefinition(definition).seam.v1

// google.rpc.Status and its details, to read why a call failed.
const rpc = protobuf.loadSync([
  path.join(repo, 'third_party/google/rpc/status.proto'),
  path.join(repo, 'third_party/google/rpc/error_details.proto'),
])
const RpcStatus = rpc.lookupType('google.rpc.Status')
const ErrorInfo = rpc.lookupType('google.rpc.ErrorInfo')

function errorInfo(error) {
  const [encoded] = error.metadata ? error.metadata.get('grpc-status-details-bin') : []
  if (!encoded) return null
  const status = RpcStatus.decode(encoded)
  const detail = status.details.find((any) => any.type_url.endsWith('/google.rpc.ErrorInfo'))
  return detail ? ErrorInfo.toObject(ErrorInfo.decode(detail.value)) : null
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, (error, response) => (error ? reject(error) : resolve(response)))
  })
}

async function listLocks(client) {
  let page_token = ''
  do {
    const page = await unary(client, 'ListLocks', { page_size: 2, page_token })
    for (const lock of page.locks) {
      const locked = lock.properties && lock.properties.locked !== undefined ? lock.properties.locked : null
      console.log(`lock ${lock.device_id} type=${lock.device_type} locked=${locked}`)
    }
    page_token = page.next_page_token
  } while (page_token)
}

function lockDoor(client, device_id) {
  return new Promise((resolve, reject) => {
    const stream = client.LockDoor({ device_id }, { deadline: Date.now() + 30_000 })
    stream.on('data', ({ action_attempt: attempt }) => {
      console.log(`LockDoor ${device_id}: ${attempt.status} ${attempt.action_attempt_id}`)
      if (attempt.status === 'STATUS_ERROR') {
        console.log(`  failed: ${attempt.error.type}: ${attempt.error.message}`)
      }
    })
    stream.on('error', reject)
    stream.on('end', resolve)
  })
}

// Plaintext, or TLS with the optional client certificate and JWT.
function credentialsFor(options) {
  if (!options['ca-cert']) {
    if (options['client-cert'] || options['token-file']) {
      throw new Error('--client-cert and --token-file need TLS (--ca-cert)')
    }
    return grpc.credentials.createInsecure()
  }
  const read = (file) => (file ? fs.readFileSync(file) : null)
  const tls = grpc.credentials.createSsl(
    read(options['ca-cert']),
    read(options['client-key']),
    read(options['client-cert']),
  )
  const tokenFile = options['token-file']
  if (!tokenFile) return tls
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata()
    metadata.add('authorization', `Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}`)
    callback(null, metadata)
  })
  return grpc.credentials.combineChannelCredentials(tls, bearer)
}

async function main() {
  const { values: options, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'ca-cert': { type: 'string' },
      'client-cert': { type: 'string' },
      'client-key': { type: 'string' },
      'token-file': { type: 'string' },
    },
  })
  const target = positionals[0] || '127.0.0.1:50051'
  const deviceId = positionals[1] || 'august_device_1'
  const missingDeviceId = positionals[2] || 'no_such_lock'
  const client = new seam.LockService(target, credentialsFor(options))
  try {
    await listLocks(client)
    await lockDoor(client, deviceId)
    try {
      await unary(client, 'GetLock', { device_id: missingDeviceId })
    } catch (error) {
      const info = errorInfo(error)
      const code = Object.keys(grpc.status).find((name) => grpc.status[name] === error.code)
      console.log(
        `GetLock ${missingDeviceId}: ${code} reason=${info && info.reason} device_id=${info && info.metadata.device_id}`,
      )
    }
  } finally {
    client.close()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
