# unit tests of history/: the SQLite store in a real file in a temp dir
tw_unit_test(history_store SOURCES test_history_store.c LIBS tw_history tw_transform)
