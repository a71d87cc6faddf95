/**
 * chDB (ClickHouse as a library) through Deno FFI, for tests that need a
 * current ClickHouse without a server: `libchdb.so` from the npm package
 * `@chdb/lib-linux-x64-gnu`, cached under `.cache/chdb/` (fetched with
 * `npm pack` when missing). Needs `--allow-ffi` (that test alone), plus
 * `--allow-run=npm,tar` and `--allow-write=.cache/chdb` for the first fetch.
 *
 * @module
 */

/** The chDB package and version the tests pin. */
export const CHDB_PACKAGE = "@chdb/lib-linux-x64-gnu@26.7.3-stable.1";

/** Where the unpacked package lives (relative to the repository root). */
export const CHDB_DIR = ".cache/chdb";

/** Path of `libchdb.so` once {@link ensureChdb} resolved. */
export const CHDB_LIB = `${CHDB_DIR}/package/libchdb.so`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[], cwd: string) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/** Makes sure `libchdb.so` is cached; returns its path. */
export async function ensureChdb(): Promise<string> {
  if (await exists(CHDB_LIB)) return CHDB_LIB;
  await Deno.mkdir(CHDB_DIR, { recursive: true });
  const tgz = (await run("npm", ["pack", "--silent", CHDB_PACKAGE], CHDB_DIR))
    .split("\n").pop()!;
  await run("tar", ["xzf", tgz], CHDB_DIR);
  await Deno.remove(`${CHDB_DIR}/${tgz}`);
  return CHDB_LIB;
}

const SYMBOLS = {
  chdb_connect: { parameters: ["i32", "pointer"], result: "pointer" },
  chdb_close_conn: { parameters: ["pointer"], result: "void" },
  chdb_query_n: {
    parameters: ["pointer", "buffer", "usize", "buffer", "usize"],
    result: "pointer",
  },
  chdb_result_buffer: { parameters: ["pointer"], result: "pointer" },
  chdb_result_length: { parameters: ["pointer"], result: "usize" },
  chdb_result_error: { parameters: ["pointer"], result: "pointer" },
  chdb_destroy_query_result: { parameters: ["pointer"], result: "void" },
} as const;

/** One chDB session on a data directory. */
export class Chdb {
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #connp: Deno.PointerObject;
  readonly #conn: Deno.PointerValue;
  readonly #keep: Uint8Array[];

  /** Opens `lib` with its data under `path`. */
  constructor(lib: string, path: string) {
    this.#lib = Deno.dlopen(lib, SYMBOLS);
    const enc = new TextEncoder();
    this.#keep = ["clickhouse", `--path=${path}`].map((a) =>
      enc.encode(a + "\0")
    );
    const argv = new BigUint64Array(this.#keep.length);
    this.#keep.forEach((a, i) => {
      argv[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a)));
    });
    const connp = this.#lib.symbols.chdb_connect(
      this.#keep.length,
      Deno.UnsafePointer.of(argv),
    );
    if (!connp) throw new Error("chdb_connect failed");
    this.#connp = connp;
    this.#conn = new Deno.UnsafePointerView(connp).getPointer(0);
  }

  /** Runs `sql`; returns the output in `format`, or throws the server error. */
  query(sql: string, format = "TSV"): string {
    const enc = new TextEncoder();
    const s = enc.encode(sql), f = enc.encode(format);
    const sym = this.#lib.symbols;
    const r = sym.chdb_query_n(
      this.#conn,
      s,
      BigInt(s.length),
      f,
      BigInt(f.length),
    );
    if (!r) throw new Error("chdb_query_n returned no result");
    try {
      const e = sym.chdb_result_error(r);
      if (e) throw new Error(new Deno.UnsafePointerView(e).getCString());
      const b = sym.chdb_result_buffer(r);
      const n = Number(sym.chdb_result_length(r));
      if (!b || n === 0) return "";
      return new TextDecoder().decode(
        new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(b, n)).slice(),
      );
    } finally {
      sym.chdb_destroy_query_result(r);
    }
  }

  /** Closes the session and the library. */
  close(): void {
    this.#lib.symbols.chdb_close_conn(this.#connp);
    this.#lib.close();
  }
}
