"""confluent-kafka (librdkafka) transactional producer for txn_test.go.

usage:
  ck_txn.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP TRANSACTIONAL_ID

Runs three transactions on OUT_TOPIC partition 0, each also committing an
offset of IN_TOPIC partition 0 for GROUP with send_offsets_to_transaction:
  1. ck-0..ck-9, offset 10, commit_transaction
  2. ABORTED-0..ABORTED-9, offset 99, flush (so the records reach the
     broker), abort_transaction
  3. ck-10..ck-19, offset 20, commit_transaction
The group metadata comes from a consumer of GROUP that never subscribes,
as confluent-kafka-go's own test does. Prints {"op": ...} JSON lines and
{"op": "done"} at the end; any client error exits non-zero (the Go test
asserts on what the broker then holds).
"""
import json
import sys

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def out(**kw):
    print(json.dumps(kw), flush=True)


def main(bootstrap, in_topic, out_topic, group, txn_id):
    p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': txn_id,
                  'transaction.timeout.ms': 30000, 'message.timeout.ms': 30000})
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': group,
                  'enable.auto.commit': False, 'isolation.level': 'read_committed'})
    failed = []

    def on_delivery(err, msg):
        if err is not None:
            failed.append(str(err))

    p.init_transactions(30)
    out(op='init')
    plan = [
        (['ck-%d' % i for i in range(10)], 10, True),
        (['ABORTED-%d' % i for i in range(10)], 99, False),
        (['ck-%d' % i for i in range(10, 20)], 20, True),
    ]
    for values, offset, commit in plan:
        p.begin_transaction()
        for v in values:
            p.produce(out_topic, v.encode(), partition=0, on_delivery=on_delivery)
        p.send_offsets_to_transaction([TopicPartition(in_topic, 0, offset)],
                                      c.consumer_group_metadata(), 30)
        if commit:
            p.commit_transaction(30)
            if failed:
                raise RuntimeError('delivery failed in a committed transaction: %s' % failed[:3])
            out(op='committed', offset=offset, n=len(values))
        else:
            if p.flush(30) != 0:
                raise RuntimeError('records of the transaction to abort not delivered')
            p.abort_transaction(30)
            out(op='aborted', offset=offset, n=len(values))
        failed.clear()
    c.close()
    out(op='done')


if __name__ == '__main__':
    try:
        main(*sys.argv[1:6])
    except KafkaException as e:
        sys.stderr.write('ck_txn.py: %s\n' % e)
        sys.exit(2)
