// kafkajs_sec.js: kafkajs over SASL_SSL for test/interop/security_test.go.
//
//   node kafkajs_sec.js BROKER CAFILE MECHANISM USER PASSWORD TOPIC
//
// Produces one record and reads it back. Prints one JSON line: {"op":"ok"}
// or {"op":"error","name":...,"message":...}, and exits 0 either way.
'use strict'

const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const [broker, cafile, mechanism, username, password, topic] = process.argv.slice(2)
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const kafka = new Kafka({
  clientId: 'samsa-interop-kafkajs-sec',
  brokers: [broker],
  ssl: { ca: [fs.readFileSync(cafile, 'utf-8')] },
  sasl: { mechanism, username, password },
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
})

async function main () {
  const value = 'hello-kafkajs-' + mechanism
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: [{ value }] })
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: 'sec-kafkajs-' + mechanism })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('record not read back')), 20000)
    consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value.toString() === value) {
          clearTimeout(timer)
          resolve()
        }
      }
    })
  })
  await consumer.disconnect()
  out({ op: 'ok' })
}

main().then(() => process.exit(0)).catch((e) => {
  out({ op: 'error', name: e.name, message: e.message })
  process.exit(0)
})
