/**
 * Native mode: every service of the topology as a detached local process
 * under `.cluster/<service>/` (config, data, `log`, `pid`). One module per job:
 *
 * - ./paths.ts: repository root, installed jars, file helpers;
 * - ./binaries.ts: the binaries it runs and the prerequisite check;
 * - ./specs.ts: per-service command line, markers and config files;
 * - ./processes.ts: start, find, stop, restart and drift of processes.
 *
 * @module
 */

export { abs, JMX_AGENT, KAFKA_LIBS, PG_BIN, ROOT } from "./paths.ts";
export {
  type Binaries,
  checkPrerequisites,
  MissingPrerequisite,
  postgresUid,
  UNRESOLVED_BINARIES,
  which,
} from "./binaries.ts";
export {
  alertmanagerConfig,
  nativeMarker,
  type NativeSpec,
  nativeSpec,
  reloadMonitoringConfigs,
} from "./specs.ts";
export {
  argvMatches,
  configDrift,
  logFile,
  pidFile,
  processAlive,
  processArgs,
  restartService,
  runningPid,
  signal,
  startService,
  stopService,
  tailLog,
} from "./processes.ts";
