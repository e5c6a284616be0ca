"""confluent-kafka (librdkafka) subscribe() group consumer for the group tests.

usage:
  ck_group.py BOOTSTRAP TOPIC GROUP EXPECTED IDLE_S

Subscribes to TOPIC in GROUP (enable.auto.commit=False, earliest reset) and
commits each record synchronously after printing it. Once EXPECTED records
arrived (and the group assigned partitions), it polls IDLE_S seconds more
so the test sees any record beyond what it expected, then closes (leaving
the group). Exits 1 if EXPECTED records do not arrive within 45s.

Output, one JSON object per line:
  {"p","o","k","v"}                    a record (k and v hex)
  {"ev": "assigned", "parts": [...]}   partitions assigned by a rebalance
"""
import json
import sys
import time

from confluent_kafka import Consumer


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def main(bootstrap, topic, group, expected, idle_s):
    expected, idle_s = int(expected), float(idle_s)
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': group,
                  'enable.auto.commit': False, 'auto.offset.reset': 'earliest',
                  'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500})
    assigned = []

    def on_assign(consumer, parts):
        assigned.append(True)
        emit({'ev': 'assigned', 'parts': sorted(p.partition for p in parts)})

    c.subscribe([topic], on_assign=on_assign)
    n = 0
    deadline = time.time() + 45
    idle_until = None
    while True:
        now = time.time()
        if idle_until is None and n >= expected and assigned:
            idle_until = now + idle_s
        if idle_until is not None and now >= idle_until:
            break
        if idle_until is None and now > deadline:
            sys.exit('read %d of %d records in 45s (assigned: %s)' % (n, expected, bool(assigned)))
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            sys.exit('consume error: %s' % m.error())
        emit({'p': m.partition(), 'o': m.offset(), 'k': m.key().hex(), 'v': m.value().hex()})
        c.commit(message=m, asynchronous=False)
        n += 1
    c.close()


if __name__ == '__main__':
    main(*sys.argv[1:])
