# device-sim: the device models
tw_unit_test(sim_models SOURCES test_sim_models.c LIBS tw_sim)
