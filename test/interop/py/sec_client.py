"""Produce one record and read it back over a secured listener, with
kafka-python or confluent-kafka configured as their users would.

usage: sec_client.py LIB BOOTSTRAP PROTOCOL MECHANISM USER PASSWORD CAFILE CERT KEY TOPIC
(empty strings for unused settings). Prints "OK <value>" or "ERR <error>"
and exits 0 either way: the Go test decides what is expected.
"""
import sys
import time

lib, bootstrap, protocol, mechanism, user, password, cafile, cert, key, topic = sys.argv[1:11]
value = ("hello-%s-%s" % (lib, mechanism or protocol)).encode()


def kafka_python():
    from kafka import KafkaProducer, KafkaConsumer
    conf = dict(bootstrap_servers=bootstrap, security_protocol=protocol)
    if mechanism:
        conf.update(sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password)
    if cafile:
        conf.update(ssl_cafile=cafile)
    if cert:
        conf.update(ssl_certfile=cert, ssl_keyfile=key)
    try:
        p = KafkaProducer(request_timeout_ms=10000, max_block_ms=10000, **conf)
        p.send(topic, value=value).get(timeout=15)
        p.close()
        c = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000, **conf)
        for m in c:
            if m.value == value:
                print("OK", m.value.decode())
                return
        print("ERR record not read back")
    except Exception as e:  # the test reads the error
        print("ERR", type(e).__name__, e)


def confluent():
    from confluent_kafka import Producer, Consumer
    conf = {"bootstrap.servers": bootstrap, "security.protocol": protocol}
    if mechanism:
        conf.update({"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password})
    if cafile:
        conf["ssl.ca.location"] = cafile
    if cert:
        conf.update({"ssl.certificate.location": cert, "ssl.key.location": key})
    errors = []
    conf["error_cb"] = lambda e: errors.append(str(e))
    p = Producer(dict(conf, **{"message.timeout.ms": 10000}))
    delivered = []
    p.produce(topic, value, on_delivery=lambda err, msg: delivered.append(err))
    p.flush(15)
    if not delivered or delivered[0] is not None:
        print("ERR", (delivered and delivered[0]) or "", "|".join(errors))
        return
    c = Consumer(dict(conf, **{"group.id": "sec-" + mechanism + protocol, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    deadline = time.time() + 15
    while time.time() < deadline:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        if m.value() == value:
            print("OK", m.value().decode())
            c.close()
            return
    c.close()
    print("ERR record not read back", "|".join(errors))


{"kafka-python": kafka_python, "confluent": confluent}[lib]()
