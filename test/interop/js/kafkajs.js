// kafkajs.js drives the kafkajs client for test/interop/kafkajs_test.go.
//
//   node kafkajs.js BROKER admin TOPIC
//   node kafkajs.js BROKER group TOPIC GROUP N
//   node kafkajs.js BROKER txn IN_TOPIC OUT_TOPIC GROUP TRANSACTIONAL_ID
//
// It prints one JSON object per line on stdout ({"op": ...}) for the Go
// test to assert on, and kafkajs's own logs on stderr. It asserts nothing
// itself: any client error exits non-zero with the error on stderr.
'use strict'

const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes } = require('kafkajs')

const [broker, mode, ...args] = process.argv.slice(2)

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// kafkajs logs to stdout by default; stdout is reserved for results.
const logCreator = () => ({ namespace, level, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`${new Date().toISOString()} ${namespace} [${level}] ${message} ${JSON.stringify(extra)}\n`)
}

const kafka = new Kafka({
  clientId: 'samsa-interop-kafkajs',
  brokers: [broker],
  logLevel: logLevel.WARN,
  logCreator,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  // Bounded retries: a broker bug must fail the run, not spin until the
  // Go test's timeout kills the process.
  retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
})

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// waitUntil polls cond every 50ms, throwing what after ms.
async function waitUntil (ms, what, cond) {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`)
    await sleep(50)
  }
}

// admin creates TOPIC (3 partitions, retention.ms set), creates it again,
// reads its metadata, configs and offsets, lists topics, deletes it and
// lists again.
async function admin (topic) {
  const admin = kafka.admin()
  await admin.connect()
  const spec = {
    topics: [{
      topic,
      numPartitions: 3,
      replicationFactor: 1,
      configEntries: [{ name: 'retention.ms', value: '3600000' }],
    }],
    waitForLeaders: true,
  }
  out({ op: 'createTopics', created: await admin.createTopics(spec) })
  // kafkajs answers false when every topic existed already.
  out({ op: 'createTopicsAgain', created: await admin.createTopics(spec) })

  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  out({
    op: 'metadata',
    topics: md.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr, error: p.partitionErrorCode,
      })),
    })),
  })

  const cfg = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'cleanup.policy'] }],
    includeSynonyms: false,
  })
  out({
    op: 'describeConfigs',
    entries: cfg.resources.flatMap((r) => r.configEntries.map((e) => ({ name: e.configName, value: e.configValue, isDefault: e.isDefault }))),
  })

  out({ op: 'topicOffsets', partitions: await admin.fetchTopicOffsets(topic) })
  out({ op: 'listTopics', topics: await admin.listTopics() })
  await admin.deleteTopics({ topics: [topic], timeout: 10000 })
  await waitUntil(10000, `${topic} to disappear`, async () => !(await admin.listTopics()).includes(topic))
  out({ op: 'listTopicsAfterDelete', topics: await admin.listTopics() })
  await admin.disconnect()
}

// group creates TOPIC with 4 partitions, starts two consumers of GROUP
// and waits until they split the partitions; then an idempotent acks=-1
// producer writes N records (explicit partitions, every other batch
// gzip), the consumers read until they saw all N, disconnect (committing),
// and the group's committed offsets are fetched.
async function group (topic, groupId, n) {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 4, replicationFactor: 1 }], waitForLeaders: true })

  const members = 2
  const assignments = new Array(members).fill(null)
  const seen = new Set()
  const consumers = []
  for (let m = 0; m < members; m++) {
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 10000,
      rebalanceTimeout: 10000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 500,
    })
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignments[m] = (e.payload.memberAssignment[topic] || []).slice().sort()
      out({ op: 'join', member: m, memberId: e.payload.memberId, assignment: assignments[m] })
    })
    consumer.on(consumer.events.CRASH, (e) => {
      process.stderr.write(`member ${m} crashed: ${e.payload.error && e.payload.error.stack}\n`)
      process.exit(3)
    })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const value = message.value.toString()
        const header = message.headers.i ? message.headers.i.toString() : ''
        out({ op: 'consumed', member: m, partition, offset: Number(message.offset), key: message.key.toString(), value, header })
        seen.add(value)
      },
    })
    consumers.push(consumer)
  }
  await waitUntil(30000, 'both members to hold partitions', () => {
    if (assignments.some((a) => a === null || a.length === 0)) return false
    const all = assignments.flat().sort()
    return all.length === 4 && all.every((p, i) => p === i)
  })
  out({ op: 'ready', assignments })

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const batch = 50
  for (let start = 0; start < n; start += batch) {
    const messages = []
    for (let i = start; i < Math.min(n, start + batch); i++) {
      const value = `kjs-${i}`
      messages.push({ partition: i % 4, key: `k-${value}`, value, headers: { i: value } })
    }
    const compression = (start / batch) % 2 ? CompressionTypes.GZIP : CompressionTypes.None
    const meta = await producer.send({ topic, acks: -1, compression, messages })
    // Records of one partition keep their order in the batch and take
    // consecutive offsets from the partition's baseOffset.
    const base = new Map(meta.map((r) => [r.partition, Number(r.baseOffset)]))
    const next = new Map()
    for (const msg of messages) {
      const k = next.get(msg.partition) || 0
      next.set(msg.partition, k + 1)
      out({ op: 'acked', value: msg.value, partition: msg.partition, offset: base.get(msg.partition) + k })
    }
  }
  await producer.disconnect()

  await waitUntil(60000, `all ${n} records consumed`, () => seen.size >= n)
  // Give a duplicate delivery a moment to show before stopping.
  await sleep(500)
  // Both at once, so the group does not rebalance onto the last member.
  await Promise.all(consumers.map((c) => c.disconnect())) // commits what was processed
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
  out({ op: 'offsets', partitions: offsets.flatMap((t) => t.partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) }))) })
  const groups = await admin.describeGroups([groupId])
  out({ op: 'describeGroups', groups: groups.groups.map((g) => ({ groupId: g.groupId, state: g.state, members: g.members.length, error: g.errorCode })) })
  await admin.disconnect()
}

// txn runs three transactions of a transactional producer on OUT_TOPIC
// partition 0, each also committing an offset of IN_TOPIC partition 0 for
// GROUP with sendOffsets: kjs-0..kjs-9 at offset 10 (commit), ABORTED-*
// at offset 99 (abort), kjs-10..kjs-19 at offset 20 (commit).
async function txn (inTopic, outTopic, groupId, transactionalId) {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30000 })
  await producer.connect()
  const plan = [
    { values: Array.from({ length: 10 }, (_, i) => `kjs-${i}`), offset: 10, commit: true },
    { values: Array.from({ length: 10 }, (_, i) => `ABORTED-${i}`), offset: 99, commit: false },
    { values: Array.from({ length: 10 }, (_, i) => `kjs-${10 + i}`), offset: 20, commit: true },
  ]
  for (const { values, offset, commit } of plan) {
    const transaction = await producer.transaction()
    await transaction.send({ topic: outTopic, acks: -1, messages: values.map((value) => ({ partition: 0, value })) })
    await transaction.sendOffsets({
      consumerGroupId: groupId,
      topics: [{ topic: inTopic, partitions: [{ partition: 0, offset: String(offset) }] }],
    })
    if (commit) {
      await transaction.commit()
    } else {
      await transaction.abort()
    }
    out({ op: commit ? 'committed' : 'aborted', offset, n: values.length })
  }
  await producer.disconnect()
  out({ op: 'done' })
}

async function main () {
  switch (mode) {
    case 'admin': return admin(args[0])
    case 'group': return group(args[0], args[1], Number(args[2]))
    case 'txn': return txn(args[0], args[1], args[2], args[3])
    default: throw new Error(`unknown mode ${mode}`)
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`kafkajs.js ${mode} failed: ${err.stack || err}\n`)
  process.exit(2)
})
