// The toolkit's version, as --version prints it on every script (package.json's "version";
// tests/unit/flags.test.ts holds the two equal). A constant, so a bundled dist/*.mjs needs no
// package.json beside it.

export const TOOLKIT_NAME = 'flannel-runbook';
export const TOOLKIT_VERSION = '0.1.0';
