// The trivial zx script the cold starts are compared with: zx's CLI, one command.
await $`true`;
