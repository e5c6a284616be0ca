"""The consumer half of the README's kafka-python example (group 'my-group').

The README's loop never ends; the test bounds it: auto_offset_reset='earliest'
(the producer ran first), consumer_timeout_ms ends the loop when nothing more
comes, and it stops after the expected number of messages.

usage: seed_consumer.py BOOTSTRAP EXPECTED
"""
import sys

from kafka import KafkaConsumer

bootstrap, expected = sys.argv[1], int(sys.argv[2])
consumer = KafkaConsumer('my-topic', group_id='my-group', bootstrap_servers=[bootstrap],
                         auto_offset_reset='earliest', consumer_timeout_ms=15000)
n = 0
for message in consumer:
    print(message.value)
    sys.stdout.flush()
    n += 1
    if n >= expected:
        break
consumer.close()
