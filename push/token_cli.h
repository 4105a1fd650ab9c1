/* token_cli.h -- the "token" subcommand of telewire-hub */
#ifndef TW_PUSH_TOKEN_CLI_H
#define TW_PUSH_TOKEN_CLI_H

/* Runs "telewire-hub token ARGS" (argv[0] is "token"); returns the exit code. */
int tw_hub_token_main(int argc, char **argv);

#endif
