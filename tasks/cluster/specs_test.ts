import assert from "node:assert/strict";
import { SERVICES } from "../../schemas/topology.ts";
import { UNRESOLVED_BINARIES } from "./binaries.ts";
import { nativeMarker, nativeSpec } from "./specs.ts";

Deno.test("nativeMarker: the marker of every service's spec, without rendering its configs", () => {
  for (const svc of SERVICES) {
    assert.equal(
      nativeMarker(svc),
      nativeSpec(svc, UNRESOLVED_BINARIES).marker,
      svc.name,
    );
  }
  assert.equal(
    new Set(SERVICES.map(nativeMarker)).size,
    SERVICES.length,
    "markers are distinct",
  );
});
