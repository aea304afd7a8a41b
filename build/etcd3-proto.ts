// Build time only: etcd's protocol as etcd3 loads it, precompiled, and the esbuild plugin that
// makes the bundled etcd3 use it. etcd3's connection-pool.js runs
//   const packageDefinition = (0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`, {...});
// when it is first required; in the bundle that call becomes
//   (0, lean_1.leanPackageDefinition)(<rpc.proto as protobufjs JSON>, {...})
// (build/grpc-lean.ts), with the same options. If a new etcd3 words it differently the build
// stops and says so: it never ships an etcd3 that would read a .proto beside the bundle.

import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
export const LEAN_DEFINITION = join(HERE, 'grpc-lean.ts');

/** Where etcd3's .proto files are, as installed. */
export function etcd3ProtoFile(): string {
  return join(dirname(require.resolve('etcd3/package.json')), 'proto', 'rpc.proto');
}

/**
 * rpc.proto (and the kv.proto and auth.proto it imports) parsed the way proto-loader parses it
 * for etcd3 (keepCase), as a protobufjs JSON root. protobufjs is taken from where proto-loader
 * takes it, so the bundle speaks exactly what the unbundled etcd3 speaks.
 */
export function etcd3ProtoJson(): unknown {
  const fromLoader = createRequire(require.resolve('@grpc/proto-loader'));
  const protobuf = fromLoader('protobufjs') as typeof import('protobufjs');
  const root = new protobuf.Root();
  root.loadSync(etcd3ProtoFile(), { keepCase: true });
  return root.toJSON();
}

const LOADER_REQUIRE = 'const proto_loader_1 = require("@grpc/proto-loader");';
// biome-ignore lint/suspicious/noTemplateCurlyInString: the text of etcd3's template literal, matched as it is
const LOAD_CALL = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`, {';

/** esbuild plugin: etcd3's connection pool built from the precompiled protocol (see the header). */
export function etcd3ProtoPlugin(): Plugin {
  return {
    name: 'etcd3-precompiled-proto',
    setup(build) {
      build.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
        const src = await readFile(args.path, 'utf8');
        if (!src.includes(LOADER_REQUIRE) || src.split(LOAD_CALL).length !== 2)
          throw new Error(
            `${args.path}: etcd3 no longer loads rpc.proto with \`${LOAD_CALL}...\`: update build/etcd3-proto.ts for this etcd3`,
          );
        const contents = src
          .replace(LOADER_REQUIRE, `const lean_1 = require(${JSON.stringify(LEAN_DEFINITION)});`)
          .replace(LOAD_CALL, `(0, lean_1.leanPackageDefinition)(${JSON.stringify(etcd3ProtoJson())}, {`);
        return { contents, loader: 'js' };
      });
    },
  };
}
