/* test_transform_plugin_noentry.c -- a test plugin that lacks the entry point */
int telewire_not_the_entry(void);
int telewire_not_the_entry(void)
{
	return 42;
}
