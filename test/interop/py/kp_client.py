"""kafka-python driver for the interop tests: produce or consume, one JSON line per record.

usage:
  kp_client.py produce BOOTSTRAP TOPIC N API_VERSION COMPRESSION
      sends N records key=k-<i> value=v-<i>-<api>-<codec>; prints {"i","p","o"} per ack.
  kp_client.py consume BOOTSTRAP TOPIC EXPECTED API_VERSION MODE
      MODE is 'assign' (all partitions, from the beginning), 'subscribe' (no group)
      or 'group:NAME'; prints {"p","o","k","v","ts"} (k and v hex, null when None)
      per record until EXPECTED records or 15s with nothing new.

API_VERSION is 'auto' or dotted ('0.10.0', '0.9') and pins kafka-python's protocol
versions the way old applications do.
"""
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def api_version(s):
    if s == 'auto':
        return None
    return tuple(int(x) for x in s.split('.'))


def hexor(b):
    return None if b is None else b.hex()


def produce(bootstrap, topic, n, api, codec):
    kw = {}
    if api_version(api) is not None:
        kw['api_version'] = api_version(api)
    if codec != 'none':
        kw['compression_type'] = codec
    p = KafkaProducer(bootstrap_servers=[bootstrap], acks='all', retries=5,
                      linger_ms=5, **kw)
    futs = []
    for i in range(int(n)):
        key = ('k-%d' % i).encode()
        val = ('v-%d-%s-%s' % (i, api, codec)).encode()
        futs.append((i, p.send(topic, key=key, value=val)))
    p.flush(timeout=30)
    for i, f in futs:
        md = f.get(timeout=30)
        print(json.dumps({'i': i, 'p': md.partition, 'o': md.offset}))
    p.close(timeout=10)


def consume(bootstrap, topic, expected, api, mode):
    kw = {}
    if api_version(api) is not None:
        kw['api_version'] = api_version(api)
    expected = int(expected)
    common = dict(bootstrap_servers=[bootstrap], auto_offset_reset='earliest',
                  enable_auto_commit=False, consumer_timeout_ms=15000, **kw)
    if mode == 'assign':
        c = KafkaConsumer(group_id=None, **common)
        deadline = time.time() + 15
        parts = None
        while parts is None and time.time() < deadline:
            parts = c.partitions_for_topic(topic)
            if parts is None:
                time.sleep(0.1)
        if parts is None:
            sys.exit('no metadata for topic %s' % topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
    elif mode == 'subscribe':
        c = KafkaConsumer(topic, group_id=None, **common)
    elif mode.startswith('group:'):
        c = KafkaConsumer(topic, group_id=mode[len('group:'):], **common)
    else:
        sys.exit('unknown mode %s' % mode)
    n = 0
    for m in c:
        print(json.dumps({'p': m.partition, 'o': m.offset, 'k': hexor(m.key),
                          'v': hexor(m.value), 'ts': m.timestamp}))
        sys.stdout.flush()
        n += 1
        if n >= expected:
            break
    c.close()


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'produce':
        produce(*args)
    elif cmd == 'consume':
        consume(*args)
    else:
        sys.exit('unknown command %s' % cmd)
