"""Moving framed messages between parties: the wire format and two transports.

``wire`` turns a header and arrays into frames and back, validating everything it reads;
``inprocess`` connects three parties in one process with queues (fast tests);
``zmq_transport`` connects three OS processes over CURVE-secured ZeroMQ sockets.
"""
