"""Byte-level formats on the wire: server-sent events and (later) the AWS event stream."""
