"""The client API: every message between a client and the servers, checked on receipt.

``names`` (the one grammar of job ids, program, input, dataset and part names, checkpoint and
upload ids), ``envelope`` (the version every request and reply carries, :class:`BadRequest`,
header decoding), ``messages`` (jobs, status, progress, results, errors, storage answers),
``storage_messages`` (upload and dataset requests). Client and servers both use these modules;
``transport/`` carries only the messages between parties. See ``docs/NETWORK.md``.
"""
