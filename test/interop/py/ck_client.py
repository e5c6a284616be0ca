"""confluent-kafka (librdkafka) driver for the interop tests.

usage:
  ck_client.py produce BOOTSTRAP TOPIC N CODEC
      idempotent producer (enable.idempotence=True, so acks=all), compression
      CODEC (none, gzip, snappy, lz4, zstd); record i has key k-<i>, value
      record_value(i, CODEC) and headers [("idx", "<i>"), ("codec", CODEC)].
      Prints {"i","p","o"} per delivery report.
  ck_client.py consume BOOTSTRAP TOPIC EXPECTED MODE
      MODE 'assign' reads every partition from the beginning with assign()
      and no group; 'group:NAME' subscribes in group NAME. Prints
      {"p","o","k","v","h"} (hex bytes; h is [{"k","v"}]) per record until
      EXPECTED records, or exits 1 after 30s.
"""
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def record_value(i, codec):
    # Compressible text followed by every byte value, so codecs see both
    # and the bytes round trip must be exact (the Go test builds the same).
    head = ('value-%d-%s-' % (i, codec)).encode()
    return head * 4 + bytes(range(i % 256))


def produce(bootstrap, topic, n, codec):
    n = int(n)
    p = Producer({'bootstrap.servers': bootstrap, 'enable.idempotence': True,
                  'compression.codec': codec, 'linger.ms': 5,
                  'message.timeout.ms': 30000})
    reports, failed = [], []

    def on_delivery(i, err, msg):
        # The delivery report carries no headers, so the index is bound here.
        if err is not None:
            failed.append('record %d: %s' % (i, err))
            return
        reports.append({'i': i, 'p': msg.partition(), 'o': msg.offset()})

    for i in range(n):
        while True:
            try:
                p.produce(topic, key=('k-%d' % i).encode(), value=record_value(i, codec),
                          headers=[('idx', str(i).encode()), ('codec', codec.encode())],
                          on_delivery=lambda err, msg, i=i: on_delivery(i, err, msg))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(30)
    if left:
        sys.exit('%d records not delivered after 30s' % left)
    if failed:
        sys.exit('delivery failed: %s' % '; '.join(failed[:10]))
    for r in reports:
        print(json.dumps(r))


def consume(bootstrap, topic, expected, mode):
    expected = int(expected)
    conf = {'bootstrap.servers': bootstrap, 'enable.auto.commit': False,
            'auto.offset.reset': 'earliest'}
    if mode == 'assign':
        conf['group.id'] = 'unused-assign-only'  # librdkafka requires one; assign() never joins
        c = Consumer(conf)
        md = c.list_topics(topic, timeout=15)
        parts = sorted(md.topics[topic].partitions)
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    elif mode.startswith('group:'):
        conf['group.id'] = mode[len('group:'):]
        c = Consumer(conf)
        c.subscribe([topic])
    else:
        sys.exit('unknown mode %s' % mode)
    n = 0
    deadline = time.time() + 30
    while n < expected:
        if time.time() > deadline:
            sys.exit('read %d of %d records in 30s' % (n, expected))
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            sys.exit('consume error: %s' % m.error())
        hs = [{'k': k, 'v': v.hex()} for k, v in (m.headers() or [])]
        print(json.dumps({'p': m.partition(), 'o': m.offset(), 'k': m.key().hex(),
                          'v': m.value().hex(), 'h': hs}))
        n += 1
    c.close()


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'produce':
        produce(*args)
    elif cmd == 'consume':
        consume(*args)
    else:
        sys.exit('unknown command %s' % cmd)
