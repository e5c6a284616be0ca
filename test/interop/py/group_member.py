"""kafka-python consumer group member for the group interop tests.

usage:
  group_member.py BOOTSTRAP TOPIC GROUP SESSION_MS

Subscribes to TOPIC in GROUP (enable_auto_commit=False, earliest reset,
kafka-python's default assignors: range, roundrobin) and runs until it reads
"stop" or EOF on stdin, then close()s (which leaves the group). After every
non-empty poll it prints each record, then commits synchronously, so any
committed record has been printed first (at-least-once processing).

Output, one JSON object per line:
  {"p","o","k","v"}                     a processed record (k and v hex, null when None)
  {"ev": "assigned", "parts": [...]}    partitions of TOPIC assigned by a rebalance
  {"ev": "revoked", "parts": [...]}     partitions revoked before a rebalance
  {"ev": "commit_failed", "err": "..."} a commit the coordinator refused
  {"ev": "closed"}                      close() returned
"""
import json
import sys
import threading

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import CommitFailedError, KafkaError

out_lock = threading.Lock()


def emit(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + '\n')
        sys.stdout.flush()


def hexor(b):
    return None if b is None else b.hex()


class Listener(ConsumerRebalanceListener):
    # kafka-python calls both from inside poll(), on the polling thread, so
    # no record is being processed while the assignment changes.
    def on_partitions_revoked(self, revoked):
        emit({'ev': 'revoked', 'parts': sorted(tp.partition for tp in revoked)})

    def on_partitions_assigned(self, assigned):
        emit({'ev': 'assigned', 'parts': sorted(tp.partition for tp in assigned)})


def main(bootstrap, topic, group, session_ms):
    session_ms = int(session_ms)
    stop = threading.Event()

    def watch_stdin():
        for line in sys.stdin:
            if line.strip() == 'stop':
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    c = KafkaConsumer(bootstrap_servers=[bootstrap], group_id=group,
                      enable_auto_commit=False, auto_offset_reset='earliest',
                      session_timeout_ms=session_ms,
                      heartbeat_interval_ms=max(100, session_ms // 4),
                      # The rebalance timeout (KIP-62): short, so a killed
                      # member does not hold a rebalance up for minutes.
                      max_poll_interval_ms=max(10000, session_ms * 2),
                      metadata_max_age_ms=2000)
    c.subscribe([topic], listener=Listener())
    while not stop.is_set():
        batch = c.poll(timeout_ms=200)
        if not batch:
            continue
        for tp in sorted(batch, key=lambda tp: tp.partition):
            for m in batch[tp]:
                emit({'p': m.partition, 'o': m.offset, 'k': hexor(m.key), 'v': hexor(m.value)})
        try:
            c.commit()
        except (CommitFailedError, KafkaError) as e:
            emit({'ev': 'commit_failed', 'err': str(e)})
    c.close(autocommit=False)
    emit({'ev': 'closed'})


if __name__ == '__main__':
    main(*sys.argv[1:])
