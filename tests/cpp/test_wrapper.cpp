// test_wrapper: include/browserbase.hpp (the header-only C++17 wrapper)
// against the real library and a running bb-stand-in-server --demo.
//
// Built by tests/cpp_wrapper.rs with -std=c++17 -Wall -Wextra -Werror
// -Wpedantic. Environment (set by the harness):
//   BROWSERBASE_BASE_URL, BROWSERBASE_API_KEY  the server and its key
//   BB_TEST_DIR                                an empty scratch directory
//   BB_TEST_SYNC_SESSION     a session answering the empty archive for a while
//   BB_TEST_CONFLICT_SESSION a session whose next answer is HTTP 409
//   BB_TEST_RESET_SESSION    a session whose next request is reset
//   BB_TEST_STALL_SESSION    a session whose next answer stalls 3 s
//   BB_TEST_CANCEL_SESSION   a session only the cancelled download uses
//
// Prints TAP-style lines and "N passed, M failed"; exits 1 if a check failed.

#include "browserbase.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace bb = browserbase;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What the wrapper promises at compile time.
static_assert(!std::is_copy_constructible_v<bb::Client>, "Client is move-only");
static_assert(!std::is_copy_assignable_v<bb::Client>, "Client is move-only");
static_assert(std::is_nothrow_move_constructible_v<bb::Client>, "Client moves never throw");
static_assert(std::is_nothrow_move_assignable_v<bb::Client>, "Client moves never throw");
static_assert(!std::is_copy_constructible_v<bb::Archive>, "Archive is move-only");
static_assert(std::is_nothrow_move_constructible_v<bb::Archive>, "Archive moves never throw");
static_assert(!std::is_copy_constructible_v<bb::Buffer>, "Buffer is move-only");
static_assert(std::is_nothrow_move_constructible_v<bb::Buffer>, "Buffer moves never throw");
static_assert(std::is_nothrow_destructible_v<bb::Client>);
static_assert(std::is_base_of_v<std::runtime_error, bb::Error>);
static_assert(std::is_base_of_v<bb::ApiStatusError, bb::NotFoundError>);
static_assert(std::is_base_of_v<bb::ConnectionError, bb::TimeoutError>);
static_assert(std::is_base_of_v<bb::ApiError, bb::ConnectionError>);
static_assert(noexcept(bb::version()));
static_assert(noexcept(std::declval<const bb::Error &>().code()));
static_assert(noexcept(std::declval<const bb::Error &>().http_status()));

namespace {

int checks_run = 0;
int checks_failed = 0;

void check(bool ok, const std::string &what, const std::string &details = "") {
    ++checks_run;
    if (ok) {
        std::printf("ok %d - %s\n", checks_run, what.c_str());
    } else {
        ++checks_failed;
        std::printf("not ok %d - %s: %s\n", checks_run, what.c_str(), details.c_str());
    }
    std::fflush(stdout);
}

std::string env(const char *name) {
    const char *value = std::getenv(name);
    if (!value || !*value) {
        std::printf("Bail out! %s is not set\n", name);
        std::exit(2);
    }
    return value;
}

std::string describe(const bb::Error &e) {
    return std::string(e.code_name()) + " (HTTP " + std::to_string(e.http_status()) +
           "): " + e.what();
}

// Runs `body`, expecting exception type E with `code` (and `status` if >= 0).
template <class E, class Body>
void expect_error(const std::string &what, bb_code code, int status, Body body) {
    try {
        body();
        check(false, what, "no exception");
    } catch (const E &e) {
        bool ok = e.code() == code && (status < 0 || e.http_status() == status) &&
                  std::strlen(e.what()) > 0;
        check(ok, what, describe(e));
    } catch (const bb::Error &e) {
        check(false, what, "another exception class: " + describe(e));
    } catch (const std::exception &e) {
        check(false, what, std::string("not a browserbase::Error: ") + e.what());
    }
}

std::vector<std::uint8_t> read_file(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool is_zip(const std::vector<std::uint8_t> &bytes) {
    return bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K';
}

std::set<std::string> original_names(const std::vector<bb::Entry> &entries) {
    std::set<std::string> names;
    for (const auto &e : entries) names.insert(e.original_name);
    return names;
}

constexpr const char *DEMO = "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80";
constexpr const char *EMPTY = "1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91";
constexpr const char *UNKNOWN = "00000000-0000-4000-8000-000000000000";
constexpr std::int64_t DEMO_PDF_MS = 1719265797164;

struct Boom : std::runtime_error {
    using std::runtime_error::runtime_error;
};

bb::ClientOptions options_for(const std::string &base_url) {
    bb::ClientOptions options;
    options.base_url = base_url;
    options.api_key = "bb_test_key";
    options.connect_timeout = 2s;
    options.timeout = 5s;
    options.deadline = 30s;
    options.max_retries = 0;
    options.user_agent_suffix = "cpp-wrapper-test/1";
    options.fsync = true;
    return options;
}

}  // namespace

int main() {
    const std::string base_url = env("BROWSERBASE_BASE_URL");
    const fs::path dir = env("BB_TEST_DIR");
    const std::string sync_session = env("BB_TEST_SYNC_SESSION");
    const std::string conflict_session = env("BB_TEST_CONFLICT_SESSION");
    const std::string reset_session = env("BB_TEST_RESET_SESSION");
    const std::string stall_session = env("BB_TEST_STALL_SESSION");
    const std::string cancel_session = env("BB_TEST_CANCEL_SESSION");

    try {
        check(bb::version() == BB_VERSION_STRING, "version() == BB_VERSION_STRING",
              std::string(bb::version()));
        check(bb::code_name(BB_ERR_NOT_FOUND) == "BB_ERR_NOT_FOUND", "code_name()");

        // ---- Free functions: the default client --------------------------
        const fs::path free_zip = dir / "free.zip";
        bb::download(DEMO, free_zip);
        const std::vector<std::uint8_t> archive = read_file(free_zip);
        check(is_zip(archive), "download() writes the archive to a file",
              std::to_string(archive.size()) + " bytes");
        check(bb::download_bytes(DEMO) == archive, "download_bytes() == the file");
        {
            bb::Buffer buffer = bb::download_buffer(std::string(DEMO));
            check(std::equal(buffer.begin(), buffer.end(), archive.begin(), archive.end()),
                  "download_buffer() adopts the library's buffer");
            bb::Buffer moved = std::move(buffer);
            check(buffer.empty() && buffer.data() == nullptr && moved.size() == archive.size(),
                  "a moved Buffer owns nothing");
        }
        std::vector<std::uint8_t> streamed;
        const std::uint64_t count =
            bb::download_to(DEMO, [&](const std::uint8_t *data, std::size_t len) {
                streamed.insert(streamed.end(), data, data + len);
                return true;
            });
        check(streamed == archive && count == archive.size(),
              "download_to() streams the archive to a function");
        check(bb::wait_for_downloads_bytes(DEMO, 5s) == archive,
              "wait_for_downloads_bytes() of a ready session");
        bb::wait_for_downloads(DEMO, dir / "waited.zip", 5s);
        check(read_file(dir / "waited.zip") == archive, "wait_for_downloads() to a file");

        // ---- A Client from options ----------------------------------------
        bb::Client client(options_for(base_url));
        check(static_cast<bool>(client) && client.get() != nullptr, "Client(ClientOptions)");
        client.download(DEMO, dir / "client.zip");
        check(read_file(dir / "client.zip") == archive, "Client::download()");
        check(client.download_bytes(DEMO) == archive, "Client::download_bytes()");
        check(client.download_buffer(DEMO).to_vector() == archive, "Client::download_buffer()");
        std::size_t chunks = 0;
        streamed.clear();
        client.download_to(DEMO, [&](const std::uint8_t *data, std::size_t len) {
            ++chunks;
            streamed.insert(streamed.end(), data, data + len);
            return true;
        });
        check(streamed == archive && chunks >= 1, "Client::download_to()");

        // ---- A Client from the fluent builder ------------------------------
        bb::Client built = bb::ClientBuilder()
                               .load_env()
                               .base_url(base_url)
                               .api_key(std::string("bb_test_key"))
                               .connect_timeout(2s)
                               .timeout(5s)
                               .deadline(0ms)
                               .max_retries(1)
                               .user_agent_suffix("cpp-wrapper-test/1")
                               .proxy(std::nullopt)
                               .fsync(false)
                               .build();
        check(built.download_bytes(DEMO) == archive, "ClientBuilder()...build()");
        check(bb::Client().download_bytes(DEMO) == archive,
              "Client() takes the environment's settings");

        // ---- Errors: code and status ---------------------------------------
        expect_error<bb::NotFoundError>("unknown session: NotFoundError, 404", BB_ERR_NOT_FOUND,
                                        404, [&] { (void)client.download_bytes(UNKNOWN); });
        try {
            bb::download(UNKNOWN, dir / "never.zip");
            check(false, "a 404 is also an ApiStatusError / Error / runtime_error");
        } catch (const std::runtime_error &e) {
            const auto *status = dynamic_cast<const bb::ApiStatusError *>(&e);
            const auto *error = dynamic_cast<const bb::Error *>(&e);
            check(status && error && error->http_status() == 404 &&
                      std::string(e.what()).find("404") != std::string::npos &&
                      !fs::exists(dir / "never.zip"),
                  "a 404 is also an ApiStatusError / Error / runtime_error", e.what());
        }
        expect_error<bb::AuthenticationError>("a wrong per-call key: AuthenticationError, 401",
                                              BB_ERR_AUTHENTICATION, 401,
                                              [&] { (void)client.download_bytes(DEMO, "wrong"); });
        expect_error<bb::ConflictError>("HTTP 409: ConflictError", BB_ERR_HTTP, 409,
                                        [&] { (void)client.download_bytes(conflict_session); });
        expect_error<bb::ConnectionError>("a reset: ConnectionError", BB_ERR_CONNECTION, 0,
                                          [&] { (void)client.download_bytes(reset_session); });
        {
            bb::ClientOptions quick = options_for(base_url);
            quick.timeout = 300ms;
            bb::Client impatient(quick);
            expect_error<bb::TimeoutError>("a stall: TimeoutError", BB_ERR_TIMEOUT, 0, [&] {
                (void)impatient.download_bytes(stall_session);
            });
        }
        expect_error<bb::InvalidArgumentError>("an empty session id: InvalidArgumentError",
                                               BB_ERR_INVALID_ARGUMENT, 0,
                                               [&] { (void)client.download_bytes(""); });
        expect_error<bb::InvalidArgumentError>(
            "a session id with a NUL: InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0,
            [&] { (void)client.download_bytes(std::string("a\0b", 3)); });
        expect_error<bb::InvalidArgumentError>(
            "a plain-http non-loopback base URL: InvalidArgumentError", BB_ERR_INVALID_ARGUMENT,
            0, [&] { (void)bb::ClientBuilder().base_url("http://example.com"); });
        expect_error<bb::InvalidArgumentError>("a negative timeout: InvalidArgumentError",
                                               BB_ERR_INVALID_ARGUMENT, 0,
                                               [&] { (void)bb::ClientBuilder().timeout(-1ms); });
        expect_error<bb::InvalidArgumentError>(
            "101 retries: InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0, [&] {
                bb::ClientOptions bad = options_for(base_url);
                bad.max_retries = 101;
                bb::Client rejected(bad);
            });
        expect_error<bb::InvalidArgumentError>(
            "an empty write function: InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0,
            [&] { (void)client.download_to(DEMO, bb::WriteFunction()); });
        expect_error<bb::LocalIoError>("a missing directory: LocalIoError", BB_ERR_IO, 0,
                                       [&] { client.download(DEMO, dir / "no" / "x.zip"); });
        expect_error<bb::NotReadyError>(
            "an empty session with timeout 0: NotReadyError", BB_ERR_NOT_READY, 0,
            [&] { (void)client.wait_for_downloads_bytes(EMPTY, {0ms, false}); });

        // Every code maps to its class (no server needed).
        struct Mapping {
            bb_code code;
            int status;
            const char *class_name;
            bool (*is)(const bb::Error &);
        };
        const Mapping mappings[] = {
            {BB_ERR_HTTP, 400, "BadRequestError",
             [](const bb::Error &e) { return dynamic_cast<const bb::BadRequestError *>(&e) != nullptr; }},
            {BB_ERR_PERMISSION_DENIED, 403, "PermissionDeniedError",
             [](const bb::Error &e) { return dynamic_cast<const bb::PermissionDeniedError *>(&e) != nullptr; }},
            {BB_ERR_HTTP, 422, "UnprocessableEntityError",
             [](const bb::Error &e) { return dynamic_cast<const bb::UnprocessableEntityError *>(&e) != nullptr; }},
            {BB_ERR_RATE_LIMITED, 429, "RateLimitError",
             [](const bb::Error &e) { return dynamic_cast<const bb::RateLimitError *>(&e) != nullptr; }},
            {BB_ERR_SERVER, 503, "InternalServerError",
             [](const bb::Error &e) { return dynamic_cast<const bb::InternalServerError *>(&e) != nullptr; }},
            {BB_ERR_HTTP, 418, "ApiStatusError",
             [](const bb::Error &e) { return typeid(e) == typeid(bb::ApiStatusError); }},
            {BB_ERR_INVALID_ARCHIVE, 0, "InvalidArchiveError",
             [](const bb::Error &e) { return dynamic_cast<const bb::InvalidArchiveError *>(&e) != nullptr; }},
            {BB_ERR_CANCELLED, 0, "CancelledError",
             [](const bb::Error &e) { return dynamic_cast<const bb::CancelledError *>(&e) != nullptr; }},
            {BB_ERR_INTERNAL, 0, "InternalError",
             [](const bb::Error &e) { return dynamic_cast<const bb::InternalError *>(&e) != nullptr; }},
        };
        for (const Mapping &m : mappings) {
            try {
                bb::throw_error(m.code, m.status, "m");
            } catch (const bb::Error &e) {
                check(m.is(e) && e.code() == m.code && e.http_status() == m.status,
                      std::string("throw_error(") + bb_code_name(m.code) + ", " +
                          std::to_string(m.status) + ") throws " + m.class_name,
                      describe(e));
            }
        }

        // ---- Moving a Client -----------------------------------------------
        bb::Client moved_to = std::move(client);
        check(!client && client.get() == nullptr && static_cast<bool>(moved_to),
              "a moved-from Client is empty");
        check(moved_to.download_bytes(DEMO) == archive, "the moved-to Client works");
        expect_error<bb::InvalidArgumentError>("a moved-from Client throws InvalidArgumentError",
                                               BB_ERR_INVALID_ARGUMENT, 0,
                                               [&] { (void)client.download_bytes(DEMO); });
        client = std::move(moved_to);  // move assignment back
        check(client.download_bytes(DEMO) == archive && !moved_to, "move assignment");
        std::vector<bb::Client> clients;
        clients.push_back(std::move(built));
        clients.emplace_back(options_for(base_url));
        clients.reserve(16);  // relocates: moves every Client
        check(clients[0].download_bytes(DEMO) == archive &&
                  clients[1].download_bytes(DEMO) == archive,
              "Clients in a vector survive relocation");

        // ---- Exceptions and cancellation in the write function --------------
        int calls = 0;
        try {
            client.download_to(cancel_session, [&](const std::uint8_t *, std::size_t) -> bool {
                ++calls;
                throw Boom("boom from the callback");
            });
            check(false, "an exception in the write function propagates", "no exception");
        } catch (const Boom &e) {
            check(calls == 1 && std::string(e.what()) == "boom from the callback",
                  "an exception in the write function propagates as itself, after the "
                  "download was cancelled",
                  "calls=" + std::to_string(calls));
        } catch (const std::exception &e) {
            check(false, "an exception in the write function propagates", e.what());
        }
        calls = 0;
        try {
            bb::download_to(DEMO, [&](const std::uint8_t *, std::size_t) -> bool {
                ++calls;
                throw 42;  // not even a std::exception
            });
            check(false, "a non-std exception propagates too", "no exception");
        } catch (int value) {
            check(value == 42 && calls == 1, "a non-std exception propagates too (free function)");
        }
        expect_error<bb::CancelledError>(
            "a write function returning false: CancelledError", BB_ERR_CANCELLED, 0, [&] {
                (void)client.download_to(DEMO, [](const std::uint8_t *, std::size_t) {
                    return false;
                });
            });

        // ---- Archives ---------------------------------------------------------
        {
            bb::Archive zip = bb::Archive::open(free_zip);
            const std::vector<bb::Entry> entries = zip.entries();
            check(zip.size() == 2 && entries.size() == 2 &&
                      original_names(entries) == std::set<std::string>{"data.csv", "report.pdf"},
                  "Archive::open(path).entries(): the original names");
            const auto pdf = std::find_if(entries.begin(), entries.end(), [](const bb::Entry &e) {
                return e.original_name == "report.pdf";
            });
            check(pdf != entries.end() &&
                      pdf->name == "report-" + std::to_string(DEMO_PDF_MS) + ".pdf" &&
                      pdf->download_time_ms == DEMO_PDF_MS && pdf->size > 0 && !pdf->is_dir(),
                  "an entry's stored name, size and download time");
            check(pdf != entries.end() && pdf->mtime().has_value() && pdf->mtime_unix > 0 &&
                      pdf->download_time() ==
                          std::chrono::system_clock::time_point(
                              std::chrono::milliseconds(DEMO_PDF_MS)),
                  "mtime() and download_time() as time points");
            expect_error<bb::InvalidArgumentError>("entry(99): InvalidArgumentError",
                                                   BB_ERR_INVALID_ARGUMENT, 0,
                                                   [&] { (void)zip.entry(99); });

            zip.extract_to(dir / "extracted");
            bool sizes_match = true;
            for (const auto &e : entries) {
                const fs::path file = dir / "extracted" / e.original_name;
                sizes_match = sizes_match && fs::is_regular_file(file) &&
                              fs::file_size(file) == e.size;
            }
            check(sizes_match, "Archive::extract_to(): files with their original names");

            bb::Archive moved = std::move(zip);
            check(zip.get() == nullptr && zip.size() == 0 && moved.size() == 2,
                  "a moved Archive");
            expect_error<bb::InvalidArgumentError>(
                "a moved-from Archive throws InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0,
                [&] { zip.extract_to(dir / "never"); });

            moved.set_limits(10, 0);
            expect_error<bb::InvalidArchiveError>("set_limits(10 bytes): InvalidArchiveError",
                                                  BB_ERR_INVALID_ARCHIVE, 0,
                                                  [&] { moved.extract_to(dir / "limited"); });
            check(!fs::exists(dir / "limited") ||
                      fs::is_empty(dir / "limited"),
                  "a refused extraction writes nothing");
        }
        {
            bb::Archive from_vector = bb::Archive::from_bytes(archive);
            bb::Buffer buffer = client.download_buffer(DEMO);
            bb::Archive from_buffer = bb::Archive::from_bytes(buffer);
            buffer.reset();  // the archive keeps its own copy
            check(original_names(from_vector.entries()) == original_names(from_buffer.entries()) &&
                      from_buffer.size() == 2,
                  "Archive::from_bytes(vector / Buffer)");
            const std::uint8_t empty_zip[22] = {'P', 'K', 5, 6};
            check(bb::Archive::from_bytes(empty_zip, sizeof empty_zip).empty(),
                  "the 22-byte empty archive has no entries");
            const std::string html = "<html>not a zip</html>";
            expect_error<bb::InvalidArchiveError>(
                "Archive::from_bytes(html): InvalidArchiveError", BB_ERR_INVALID_ARCHIVE, 0, [&] {
                    (void)bb::Archive::from_bytes(
                        reinterpret_cast<const std::uint8_t *>(html.data()), html.size());
                });
            expect_error<bb::LocalIoError>("Archive::open(missing): LocalIoError", BB_ERR_IO, 0,
                                           [&] { (void)bb::Archive::open(dir / "missing.zip"); });
        }
        bb::extract(free_zip, dir / "extracted2");
        check(fs::is_regular_file(dir / "extracted2" / "report.pdf") &&
                  fs::is_regular_file(dir / "extracted2" / "data.csv"),
              "extract(zip, dir)");

        // ---- Waiting for a session that syncs ---------------------------------
        const auto started = std::chrono::steady_clock::now();
        client.wait_for_downloads(sync_session, dir / "synced.zip", {10s, true});
        const auto waited = std::chrono::steady_clock::now() - started;
        check(bb::Archive::open(dir / "synced.zip").size() == 1 && waited >= 200ms,
              "Client::wait_for_downloads() waits for a syncing session (stable)",
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
                  " ms");
        client.extract_downloads(DEMO, dir / "x1", {5s, false});
        bb::extract_downloads(DEMO, dir / "x2", 5s);
        check(fs::is_regular_file(dir / "x1" / "report.pdf") &&
                  fs::is_regular_file(dir / "x2" / "data.csv"),
              "extract_downloads() (client and free function)");
        expect_error<bb::NotReadyError>("extract_downloads(empty, 0 ms): NotReadyError",
                                        BB_ERR_NOT_READY, 0,
                                        [&] { bb::extract_downloads(EMPTY, dir / "x3", 0ms); });
    } catch (const bb::Error &e) {
        check(false, "no unexpected exception", describe(e));
    } catch (const std::exception &e) {
        check(false, "no unexpected exception", e.what());
    }

    std::printf("%d passed, %d failed\n", checks_run - checks_failed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}
