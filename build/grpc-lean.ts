// What @grpc/proto-loader gives etcd3, built from a precompiled protobufjs JSON root and nothing
// else. Bundled into dist/etcd3-stack.mjs in place of proto-loader's loadSync of rpc.proto
// (build/etcd3-proto.ts). proto-loader parses the .proto text at start-up and builds a
// descriptor of every message for gRPC reflection, which etcd3 never uses: that was most of a
// v3 cron run. Here the root comes in parsed, and a method's serializers resolve its message
// types the first time the method is called, so a run pays only for the calls it makes.
// Same contract as proto-loader's: per service, per method its path, stream flags, the
// camelCase alias grpc-js adds, and (de)serializers that convert with the given options.
// tests/unit/etcd3-stack.test.ts compares the two method by method and byte for byte.

import Long from 'long';
import protobuf from 'protobufjs/light.js';

/** proto-loader's conversion options (etcd3: longs and enums as strings, defaults, oneofs). */
export interface LeanOptions {
  readonly longs?: typeof String | typeof Number;
  readonly enums?: typeof String;
  readonly defaults?: boolean;
  readonly oneofs?: boolean;
}

export interface LeanMethod {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: object) => Uint8Array;
  readonly requestDeserialize: (bytes: Uint8Array) => object;
  readonly responseSerialize: (value: object) => Uint8Array;
  readonly responseDeserialize: (bytes: Uint8Array) => object;
  readonly originalName: string;
}

/** lodash.camelCase (proto-loader's) on a protobuf method name: `HashKV` -> `hashKv`. */
export function camelCase(name: string): string {
  const words = name.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+/g) ?? [name];
  return words
    .map((w, i) => (i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
}

let longConfigured = false;
/**
 * int64 fields (revisions, lease IDs: 7587862345934719235 > 2^53) need Long: protobufjs finds it
 * with a dynamic require that a bundle cannot see, so it is handed over here.
 */
function configureLong(): void {
  if (longConfigured) return;
  longConfigured = true;
  protobuf.util.Long = Long as unknown as typeof protobuf.util.Long;
  protobuf.configure();
}

function serializer(type: () => protobuf.Type): (value: object) => Uint8Array {
  return (value) => {
    if (Array.isArray(value))
      throw new Error(`Failed to serialize message: expected object with ${type().name} structure, got array instead`);
    const t = type();
    return t.encode(t.fromObject(value as Record<string, unknown>)).finish();
  };
}

function deserializer(type: () => protobuf.Type, options: LeanOptions): (bytes: Uint8Array) => object {
  return (bytes) => {
    const t = type();
    return t.toObject(t.decode(bytes), options as protobuf.IConversionOptions);
  };
}

function methodOf(
  service: protobuf.Service,
  serviceName: string,
  m: protobuf.Method,
  options: LeanOptions,
): LeanMethod {
  let req: protobuf.Type | undefined;
  let res: protobuf.Type | undefined;
  // resolving a type links its fields; done once, on the method's first call
  const reqType = () => (req ??= service.lookupType(m.requestType).resolveAll() as protobuf.Type);
  const resType = () => (res ??= service.lookupType(m.responseType).resolveAll() as protobuf.Type);
  return {
    path: `/${serviceName}/${m.name}`,
    requestStream: Boolean(m.requestStream),
    responseStream: Boolean(m.responseStream),
    requestSerialize: serializer(reqType),
    requestDeserialize: deserializer(reqType, options),
    responseSerialize: serializer(resType),
    responseDeserialize: deserializer(resType, options),
    originalName: camelCase(m.name),
  };
}

/**
 * The package definition grpc-js's loadPackageDefinition takes, for the services in `json`
 * (a protobufjs Root's toJSON()). Message and enum types are not listed: grpc-js only makes
 * clients of the services, and etcd3 uses nothing else.
 */
export function leanPackageDefinition(
  json: protobuf.INamespace,
  options: LeanOptions,
): Record<string, Record<string, LeanMethod>> {
  configureLong();
  const root = new protobuf.Root();
  root.addJSON(json.nested ?? {});
  const out: Record<string, Record<string, LeanMethod>> = {};
  const visit = (ns: protobuf.NamespaceBase, prefix: string) => {
    for (const obj of ns.nestedArray) {
      const name = prefix ? `${prefix}.${obj.name}` : obj.name;
      if (obj instanceof protobuf.Service) {
        const methods: Record<string, LeanMethod> = {};
        for (const m of obj.methodsArray) methods[m.name] = methodOf(obj, name, m, options);
        out[name] = methods;
      } else if (obj instanceof protobuf.Namespace && !(obj instanceof protobuf.Type)) visit(obj, name);
    }
  };
  visit(root, '');
  return out;
}
