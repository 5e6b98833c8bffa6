import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, open, realpath, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Where writing an output file went wrong: the path given, or the writing itself. */
export type OutputFileProblem = "path" | "write";

/**
 * An output file that could not be written, in one line naming the path. `problem` is "path"
 * when another path would do (not a regular file, a missing directory, no permission) and
 * "write" when writing failed part-way (a full disk, an I/O error). The target is untouched
 * and no temporary file is left either way.
 */
export class OutputFileError extends Error {
  override name = "OutputFileError";
  readonly path: string;
  readonly problem: OutputFileProblem;
  readonly code: string | undefined;
  constructor(path: string, problem: OutputFileProblem, message: string, code?: string) {
    super(message);
    this.path = path;
    this.problem = problem;
    this.code = code;
  }
}

export interface OutputFile {
  /** Adds text; it reaches the disk in chunks of about 64 KiB. */
  write(text: string): Promise<void>;
  /** Flushes, fsyncs and renames the temporary file over the target: all of it, or nothing. */
  commit(): Promise<void>;
  /** Removes the temporary file; the target stays as it was. Safe to call more than once. */
  discard(): Promise<void>;
}

export interface OutputFileOptions {
  /** Permission bits of a new file (before the umask); default: an existing target's, else 0o666. */
  mode?: number;
  /**
   * Write through a symlink at the target to the file it names (a token file linked into a
   * secrets directory). Otherwise a symlink at the target is refused like any non-file.
   */
  followTargetLink?: boolean;
}

const CHUNK_BYTES = 64 * 1024;
/** Codes that mean "this path will not do": the user names another one (exit 2). */
const PATH_CODES = new Set(["ENOENT", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "EROFS", "ELOOP"]);

/**
 * The one way this project writes a file: into a temporary file created exclusively beside the
 * target (`O_CREAT | O_EXCL | O_NOFOLLOW`, a random name, so nothing planted there is followed
 * or truncated), fsynced and renamed over the target, so a reader sees the old file or the
 * whole new one. A target that exists and is not a regular file (a directory, a FIFO, a device,
 * a symlink) is refused before anything is written: `/dev/full` or a named pipe is never
 * replaced by a file. Every failure is one `OutputFileError`, with the temporary file removed.
 *
 * @example
 * const file = await createOutputFile("run.csv");
 * try { await file.write("a,b\n"); await file.commit(); } finally { await file.discard(); }
 */
export async function createOutputFile(
  path: string,
  options: OutputFileOptions = {},
): Promise<OutputFile> {
  const target = options.followTargetLink ? await resolvedLink(path) : path;
  const existing = await regularFileOrNothing(target, path);
  const mode = options.mode ?? (existing ? existing.mode & 0o777 : 0o666);
  const { handle, temporary } = await createExclusively(target, path, mode);
  let pending: string[] = [];
  let pendingBytes = 0;
  let state: "open" | "committed" | "discarded" = "open";

  const discard = async () => {
    if (state !== "open") return;
    state = "discarded";
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
  };
  const failing = async (error: unknown): Promise<never> => {
    await discard();
    throw asOutputError(path, error, "write");
  };
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = pending.join("");
    pending = [];
    pendingBytes = 0;
    await handle.writeFile(chunk, "utf8").catch(failing);
  };

  return {
    async write(text) {
      if (state !== "open") throw new Error(`${path}: written after it was closed`);
      pending.push(text);
      pendingBytes += text.length;
      if (pendingBytes >= CHUNK_BYTES) await flush();
    },
    async commit() {
      if (state !== "open") throw new Error(`${path}: committed after it was closed`);
      await flush();
      await handle.sync().catch(failing);
      await handle.close().catch(failing);
      // The target may have changed since it was checked (a FIFO made meanwhile): check again.
      await regularFileOrNothing(target, path).catch(failing);
      await rename(temporary, target).catch(failing);
      state = "committed";
      await syncDirectory(dirname(target));
    },
    discard,
  };
}

/** The file a symlink at `path` names (the link's chain followed), or `path` itself. */
async function resolvedLink(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return path;
    throw asOutputError(path, error, "path");
  }
}

/** The target's stats when it is a regular file, nothing when it does not exist; else refused. */
async function regularFileOrNothing(target: string, named: string): Promise<Stats | undefined> {
  let stats: Stats;
  try {
    stats = await lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw asOutputError(named, error, "path");
  }
  if (stats.isFile()) return stats;
  throw new OutputFileError(
    named,
    "path",
    `${named} is ${kindOf(stats)}, not a regular file: it is not replaced (name a file, or write to stdout)`,
  );
}

async function createExclusively(
  target: string,
  named: string,
  mode: number,
): Promise<{ handle: FileHandle; temporary: string }> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  for (let attempt = 0; ; attempt += 1) {
    const temporary = join(
      dirname(target),
      `${basename(target)}.${randomBytes(6).toString("hex")}.partial`,
    );
    try {
      return { handle: await open(temporary, flags, mode), temporary };
    } catch (error) {
      // Something already has that name (planted, or a one-in-2⁴⁸ clash): another name.
      if ((error as NodeJS.ErrnoException).code === "EEXIST" && attempt < 5) continue;
      throw asOutputError(named, error, "path");
    }
  }
}

/** Makes the rename durable: best effort, as some file systems cannot fsync a directory. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, constants.O_RDONLY).catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close().catch(() => undefined);
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isSymbolicLink()) return "a symlink";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "a device";
  if (stats.isSocket()) return "a socket";
  return "not a file";
}

/** One line naming the path and the system's reason (`ENOSPC: no space left on device`). */
export function asOutputError(
  path: string,
  error: unknown,
  during: OutputFileProblem,
): OutputFileError {
  if (error instanceof OutputFileError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    error instanceof Error ? error.message.replace(/, \w+(?: '.*')?$/, "") : String(error);
  const problem = code && PATH_CODES.has(code) ? "path" : during;
  const verb = problem === "path" ? "cannot create" : "could not write";
  return new OutputFileError(path, problem, `${verb} ${path}: ${reason}`, code);
}
