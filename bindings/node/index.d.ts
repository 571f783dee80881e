// Type definitions for browserbase-c.
/// <reference types="node" />

import type { Writable } from 'stream';
import type { URL } from 'url';

/** A path: a string (sent as UTF-8), a Buffer (bytes as they are) or a file: URL. */
export type PathLike = string | Buffer | Uint8Array | URL;

/** Receives each chunk: return (or resolve to) `false` to cancel with CancelledError; throw (or reject) to cancel with your error. */
export type ChunkSink = ((chunk: Buffer) => unknown) | Writable;

/** Told how a download goes: before the first byte (received 0) and after each chunk; total is null when the server sent no size. Return `false` to cancel; throw to cancel with your error. */
export type Progress = (received: number, total: number | null) => unknown;

export interface CallOptions {
  /** The key for this call; default the client's, then BROWSERBASE_API_KEY. */
  apiKey?: string;
  /** Aborting it stops the call within about 100 ms (CancelledError, cause: the reason); see README. */
  signal?: AbortSignal;
}

export interface WaitOptions extends CallOptions {
  /** Milliseconds to wait for the files (default 60000; 0 polls once; Infinity: as long as the library allows). */
  timeout?: number;
  /** Also wait until two polls in a row see the same files. */
  stable?: boolean;
}

/** What onProgress of downloadSessions is given (see bb_batch_progress in the C header). */
export interface BatchProgress {
  /** The session's index in sessionIds, and its id. */
  index: number;
  sessionId: string;
  /** This session's bytes so far, and its announced size (null: unknown). */
  received: number;
  total: number | null;
  /** True when this report is the session's end; code is then 0 or its failure's numeric code. */
  finished: boolean;
  code: number;
  /** Sessions ended so far (successfully, not), sessions in the batch, bytes over the whole batch. */
  succeeded: number;
  failed: number;
  count: number;
  batchReceived: number;
}

export interface DownloadSessionsOptions extends CallOptions {
  /** At most this many downloads at once (0 or absent: 8; more than 64: 64). */
  concurrency?: number;
  /** Called with each session's progress and end; false (or a promise of false) cancels the batch. */
  onProgress?: (progress: BatchProgress) => unknown;
}

/** id -> null (downloaded to <dir>/<name>.zip) or the error that session failed with. */
export type SessionResults = Map<string, BrowserbaseError | null>;

export interface ClientOptions {
  /** Default https://api.browserbase.com; plain http only for loopback hosts. */
  baseUrl?: string;
  apiKey?: string;
  /** Milliseconds (default 5000). */
  connectTimeout?: number;
  /** Longest silence while waiting for or reading a response, ms (default 60000). */
  timeout?: number;
  /** A limit on a whole call, retries and waits included, ms (0: none, the default). */
  deadline?: number;
  /** Default 2. */
  maxRetries?: number;
  /** Appended to the User-Agent "browserbase-c/<version>". */
  userAgentSuffix?: string;
  /** PEM file(s) of extra CA certificates, read when the client is made. */
  caFile?: PathLike | PathLike[];
  /** "http://host:port" (credentials allowed). */
  proxy?: string;
  /** Flush downloaded files to disk before a call resolves. */
  fsync?: boolean;
  /** Continue a cut body with a Range request when the server allows (default true); false: every retry starts over. */
  resume?: boolean;
  progress?: Progress;
  /** Start from the BROWSERBASE_* environment variables (default true). */
  loadEnv?: boolean;
}

export declare class Client {
  constructor(options?: ClientOptions);
  readonly closed: boolean;
  close(): void;
  download(sessionId: string, path: PathLike, options?: CallOptions): Promise<void>;
  downloadBuffer(sessionId: string, options?: CallOptions): Promise<Buffer>;
  downloadTo(sessionId: string, sink: ChunkSink, options?: CallOptions): Promise<number>;
  downloadSessions(sessionIds: Iterable<string>, dir: PathLike, options?: DownloadSessionsOptions): Promise<SessionResults>;
  waitForDownloads(sessionId: string, path: PathLike, options?: WaitOptions): Promise<void>;
  waitForDownloadsBuffer(sessionId: string, options?: WaitOptions): Promise<Buffer>;
  extractDownloads(sessionId: string, dir: PathLike, options?: WaitOptions): Promise<void>;
}

export declare function download(sessionId: string, path: PathLike, options?: CallOptions): Promise<void>;
export declare function downloadBuffer(sessionId: string, options?: CallOptions): Promise<Buffer>;
export declare function downloadTo(sessionId: string, sink: ChunkSink, options?: CallOptions): Promise<number>;
export declare function downloadSessions(sessionIds: Iterable<string>, dir: PathLike, options?: DownloadSessionsOptions): Promise<SessionResults>;
export declare function waitForDownloads(sessionId: string, path: PathLike, options?: WaitOptions): Promise<void>;
export declare function waitForDownloadsBuffer(sessionId: string, options?: WaitOptions): Promise<Buffer>;
export declare function extractDownloads(sessionId: string, dir: PathLike, options?: WaitOptions): Promise<void>;
export declare function extract(zipPath: PathLike, dir: PathLike, options?: { signal?: AbortSignal }): Promise<void>;
export declare function version(): string;
/** The path (or, when found on the system search path, the name) of the loaded library. */
export declare function libraryPath(): string;
/** The package's worker threads: at most maxThreads (default 16) at once. */
export declare function configure(options: { maxThreads?: number }): void;
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
/**
 * Routes the library's log lines (process-wide) to `handler` on the main
 * thread; null restores the default (stderr at BROWSERBASE_LOG's level), or
 * silences the library with level 'off'. Never waits for lines on their way.
 */
export declare function setLogHandler(
  handler: ((level: LogLevel, line: string) => void) | null,
  level?: LogLevel | 'off',
): void;

export interface Entry {
  /** As stored, such as "report-1719265797164.pdf"; may be hostile ("../x"). */
  readonly name: string;
  /** Without the service's timestamp: "report.pdf". */
  readonly originalName: string;
  /** Uncompressed size in bytes, as the archive declares it. */
  readonly size: number;
  /** Modification time (UTC, 2-second precision), or null. */
  readonly mtime: Date | null;
  /** When the browser downloaded the file (from the stored name), or null. */
  readonly downloadTime: Date | null;
  readonly isDir: boolean;
}

export declare class Archive implements Iterable<Entry> {
  private constructor();
  /** From a path (string or file: URL) or from the archive's bytes. */
  static open(source: string | URL | Uint8Array | ArrayBuffer): Promise<Archive>;
  static openFile(path: PathLike): Promise<Archive>;
  static fromBuffer(data: Uint8Array | ArrayBuffer): Promise<Archive>;
  readonly entries: readonly Entry[];
  readonly length: number;
  readonly closed: boolean;
  [Symbol.iterator](): Iterator<Entry>;
  /** 0 restores a default (4 GiB, 200:1). */
  setLimits(limits: { maxTotalBytes?: number | bigint; maxRatio?: number }): void;
  extractTo(dir: PathLike, options?: { signal?: AbortSignal }): Promise<void>;
  close(): void;
}

export type CodeName =
  | 'BB_OK' | 'BB_ERR_INVALID_ARGUMENT' | 'BB_ERR_AUTHENTICATION' | 'BB_ERR_PERMISSION_DENIED'
  | 'BB_ERR_NOT_FOUND' | 'BB_ERR_RATE_LIMITED' | 'BB_ERR_SERVER' | 'BB_ERR_HTTP'
  | 'BB_ERR_CONNECTION' | 'BB_ERR_TIMEOUT' | 'BB_ERR_IO' | 'BB_ERR_INVALID_ARCHIVE'
  | 'BB_ERR_CANCELLED' | 'BB_ERR_NOT_READY' | 'BB_ERR_INTERNAL' | 'BB_UNKNOWN_CODE';

export declare const CODES: Readonly<Record<Exclude<CodeName, 'BB_UNKNOWN_CODE'>, number>>;

export declare class BrowserbaseError extends Error {
  /** The bb_code name, such as "BB_ERR_NOT_FOUND". */
  readonly code: CodeName;
  readonly codeValue: number;
  /** The HTTP status of the response that caused the error; undefined when none came. */
  readonly status?: number;
}
export declare class APIError extends BrowserbaseError {}
export declare class APIStatusError extends APIError {
  readonly status: number;
}
export declare class BadRequestError extends APIStatusError {}
export declare class AuthenticationError extends APIStatusError {}
export declare class PermissionDeniedError extends APIStatusError {}
export declare class NotFoundError extends APIStatusError {}
export declare class ConflictError extends APIStatusError {}
export declare class UnprocessableEntityError extends APIStatusError {}
export declare class RateLimitError extends APIStatusError {}
export declare class InternalServerError extends APIStatusError {}
export declare class APIConnectionError extends APIError {}
export declare class APIConnectionTimeoutError extends APIConnectionError {}
export declare class InvalidArgumentError extends BrowserbaseError {}
export declare class LocalIOError extends BrowserbaseError {}
export declare class InvalidArchiveError extends BrowserbaseError {}
export declare class CancelledError extends BrowserbaseError {}
export declare class NotReadyError extends BrowserbaseError {}
export declare class InternalError extends BrowserbaseError {}
export declare class LibraryNotFoundError extends BrowserbaseError {}
