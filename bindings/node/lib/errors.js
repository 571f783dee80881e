'use strict';
// The error classes, named as in the official Browserbase Node SDK.
//
//   BrowserbaseError                  .code (the bb_code name), .codeValue
//   ├── APIError                      .status (HTTP status, or undefined)
//   │   ├── APIStatusError
//   │   │   ├── BadRequestError            400
//   │   │   ├── AuthenticationError        401
//   │   │   ├── PermissionDeniedError      403
//   │   │   ├── NotFoundError              404
//   │   │   ├── ConflictError              409
//   │   │   ├── UnprocessableEntityError   422
//   │   │   ├── RateLimitError             429
//   │   │   └── InternalServerError        >= 500
//   │   └── APIConnectionError
//   │       └── APIConnectionTimeoutError
//   ├── InvalidArgumentError
//   ├── LocalIOError
//   ├── InvalidArchiveError
//   ├── CancelledError
//   ├── NotReadyError
//   ├── InternalError
//   └── LibraryNotFoundError   (the library could not be loaded)

const CODES = Object.freeze({
  BB_OK: 0,
  BB_ERR_INVALID_ARGUMENT: 1,
  BB_ERR_AUTHENTICATION: 2,
  BB_ERR_PERMISSION_DENIED: 3,
  BB_ERR_NOT_FOUND: 4,
  BB_ERR_RATE_LIMITED: 5,
  BB_ERR_SERVER: 6,
  BB_ERR_HTTP: 7,
  BB_ERR_CONNECTION: 8,
  BB_ERR_TIMEOUT: 9,
  BB_ERR_IO: 10,
  BB_ERR_INVALID_ARCHIVE: 11,
  BB_ERR_CANCELLED: 12,
  BB_ERR_NOT_READY: 13,
  BB_ERR_INTERNAL: 14,
});
const NAMES = Object.fromEntries(Object.entries(CODES).map(([k, v]) => [v, k]));

class BrowserbaseError extends Error {
  constructor(message, { code, status, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    const value = code === undefined ? new.target.defaultCode : code;
    this.name = new.target.name;
    /** The bb_code name, such as "BB_ERR_NOT_FOUND". */
    this.code = NAMES[value] || 'BB_UNKNOWN_CODE';
    /** The bb_code number. */
    this.codeValue = value;
    if (status) this.status = status;
  }
}
BrowserbaseError.defaultCode = CODES.BB_ERR_INTERNAL;

class APIError extends BrowserbaseError {}
class APIStatusError extends APIError {}
APIStatusError.defaultCode = CODES.BB_ERR_HTTP;
class BadRequestError extends APIStatusError {}
class AuthenticationError extends APIStatusError {}
AuthenticationError.defaultCode = CODES.BB_ERR_AUTHENTICATION;
class PermissionDeniedError extends APIStatusError {}
PermissionDeniedError.defaultCode = CODES.BB_ERR_PERMISSION_DENIED;
class NotFoundError extends APIStatusError {}
NotFoundError.defaultCode = CODES.BB_ERR_NOT_FOUND;
class ConflictError extends APIStatusError {}
class UnprocessableEntityError extends APIStatusError {}
class RateLimitError extends APIStatusError {}
RateLimitError.defaultCode = CODES.BB_ERR_RATE_LIMITED;
class InternalServerError extends APIStatusError {}
InternalServerError.defaultCode = CODES.BB_ERR_SERVER;
class APIConnectionError extends APIError {}
APIConnectionError.defaultCode = CODES.BB_ERR_CONNECTION;
class APIConnectionTimeoutError extends APIConnectionError {}
APIConnectionTimeoutError.defaultCode = CODES.BB_ERR_TIMEOUT;
class InvalidArgumentError extends BrowserbaseError {}
InvalidArgumentError.defaultCode = CODES.BB_ERR_INVALID_ARGUMENT;
class LocalIOError extends BrowserbaseError {}
LocalIOError.defaultCode = CODES.BB_ERR_IO;
class InvalidArchiveError extends BrowserbaseError {}
InvalidArchiveError.defaultCode = CODES.BB_ERR_INVALID_ARCHIVE;
class CancelledError extends BrowserbaseError {}
CancelledError.defaultCode = CODES.BB_ERR_CANCELLED;
class NotReadyError extends BrowserbaseError {}
NotReadyError.defaultCode = CODES.BB_ERR_NOT_READY;
class InternalError extends BrowserbaseError {}
class LibraryNotFoundError extends BrowserbaseError {}

const BY_CODE = {
  [CODES.BB_ERR_INVALID_ARGUMENT]: InvalidArgumentError,
  [CODES.BB_ERR_AUTHENTICATION]: AuthenticationError,
  [CODES.BB_ERR_PERMISSION_DENIED]: PermissionDeniedError,
  [CODES.BB_ERR_NOT_FOUND]: NotFoundError,
  [CODES.BB_ERR_RATE_LIMITED]: RateLimitError,
  [CODES.BB_ERR_SERVER]: InternalServerError,
  [CODES.BB_ERR_CONNECTION]: APIConnectionError,
  [CODES.BB_ERR_TIMEOUT]: APIConnectionTimeoutError,
  [CODES.BB_ERR_IO]: LocalIOError,
  [CODES.BB_ERR_INVALID_ARCHIVE]: InvalidArchiveError,
  [CODES.BB_ERR_CANCELLED]: CancelledError,
  [CODES.BB_ERR_NOT_READY]: NotReadyError,
  [CODES.BB_ERR_INTERNAL]: InternalError,
};
const BY_STATUS = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  422: UnprocessableEntityError,
  429: RateLimitError,
};

/** The class for a bb_code and HTTP status (BB_ERR_HTTP is refined by status, as the SDK does). */
function errorClass(code, status) {
  if (code === CODES.BB_ERR_HTTP) {
    if (status >= 500) return InternalServerError;
    return BY_STATUS[status] || APIStatusError;
  }
  return BY_CODE[code] || InternalError;
}

function makeError(code, status, message) {
  const Cls = errorClass(code, status);
  return new Cls(message, { code, status });
}

module.exports = {
  CODES,
  errorClass,
  makeError,
  BrowserbaseError,
  APIError,
  APIStatusError,
  BadRequestError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  ConflictError,
  UnprocessableEntityError,
  RateLimitError,
  InternalServerError,
  APIConnectionError,
  APIConnectionTimeoutError,
  InvalidArgumentError,
  LocalIOError,
  InvalidArchiveError,
  CancelledError,
  NotReadyError,
  InternalError,
  LibraryNotFoundError,
};
