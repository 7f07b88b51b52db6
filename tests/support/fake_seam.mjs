// Starts Seam's own fake (@seamapi/fake-seam-connect) with its seed plus a few
// devices the seed lacks, and prints one JSON line with the URL it serves on.
//
// Used by the integration tests and by scripts/demo. The extra devices come
// from the fake's own database API, so everything is still served by Seam's
// code: only the starting data differs.
//
//   PORT=<port> node tests/support/fake_seam.mjs   (PORT optional: a free one is picked)
import { createFake } from '@seamapi/fake-seam-connect'

const WORKSPACE = 'seed_workspace_1'
const ACCOUNT = 'john_connected_account_id'

const fake = await createFake()
await fake.seed()

const createdAt = new Date().toISOString()
// A lock Seam cannot reach: offline, with the error Seam reports for it.
fake.database.addDevice({
  device_id: 'offline_lock',
  device_type: 'august_lock',
  name: 'Offline Lock',
  display_name: 'Back Door',
  workspace_id: WORKSPACE,
  connected_account_id: ACCOUNT,
  can_remotely_lock: false,
  can_remotely_unlock: false,
  properties: { online: false, locked: false },
  errors: [
    {
      error_code: 'device_offline',
      message: 'Device is offline',
      is_device_error: true,
      created_at: createdAt,
    },
  ],
})
// A lock that could be operated remotely but is offline now: LockDoor fails
// DEVICE_OFFLINE (offline_lock above fails CAPABILITY_MISSING first).
fake.database.addDevice({
  device_id: 'offline_capable_lock',
  device_type: 'august_lock',
  name: 'Offline Capable Lock',
  display_name: 'Side Door',
  workspace_id: WORKSPACE,
  connected_account_id: ACCOUNT,
  can_remotely_lock: true,
  can_remotely_unlock: true,
  properties: { online: false, locked: true },
  errors: [
    {
      error_code: 'device_offline',
      message: 'Device is offline',
      is_device_error: true,
      created_at: createdAt,
    },
  ],
})
// A lock that is online but cannot be operated remotely (capability flags absent).
fake.database.addDevice({
  device_id: 'keypad_only_lock',
  device_type: 'schlage_lock',
  name: 'Keypad Only Lock',
  display_name: 'Garage Door',
  workspace_id: WORKSPACE,
  connected_account_id: ACCOUNT,
  properties: { online: true, locked: true },
})

// With SEAM_FAKE_POLICY_DEVICES=1: locks tagged with custom_metadata and
// placed in time zones, for the policy tests (docs/policy.md's examples).
// The fake's /devices/update ignores custom_metadata, so they are seeded here.
if (process.env.SEAM_FAKE_POLICY_DEVICES === '1') {
  const policyLocks = [
    ['hq_front_door', 'HQ Front Door', { building: 'hq', floor: '1' }, { location_name: 'HQ lobby', time_zone: 'Europe/Paris' }],
    ['hq_server_room', 'HQ Server Room', { building: 'hq', room: 'server', restricted: true }, { time_zone: 'America/New_York' }],
    ['annex_door', 'Annex Door', { building: 'annex' }, null],
  ]
  for (const [device_id, display_name, custom_metadata, location] of policyLocks) {
    fake.database.addDevice({
      device_id,
      device_type: 'august_lock',
      name: display_name,
      display_name,
      workspace_id: WORKSPACE,
      connected_account_id: ACCOUNT,
      can_remotely_lock: true,
      can_remotely_unlock: true,
      custom_metadata,
      properties: { online: true, locked: true },
    })
    if (location) fake.database.updateDevice({ device_id, location })
  }
}

const port = process.env.PORT ? Number(process.env.PORT) : undefined
const server = await fake.startServer({ port, signals: ['SIGINT', 'SIGTERM'] })
process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${server.port}` }) + '\n')
