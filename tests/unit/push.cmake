# push -- unit tests of telewire-hub's pure parts: hub protocol codec, JWT, envelopes, static paths, frames
tw_unit_test(push_protocol SOURCES test_push_protocol.c LIBS tw_push)
tw_unit_test(push_auth SOURCES test_push_auth.c LIBS tw_push)
tw_unit_test(push_envelope SOURCES test_push_envelope.c LIBS tw_push)
tw_unit_test(push_static SOURCES test_push_static.c LIBS tw_push)
tw_unit_test(push_frame SOURCES test_push_frame.c LIBS tw_push)
tw_unit_test(push_msgpack SOURCES test_push_msgpack.c LIBS tw_push)
tw_unit_test(push_rest SOURCES test_push_rest.c LIBS tw_push)
tw_unit_test(push_connstr SOURCES test_push_connstr.c LIBS tw_push)
