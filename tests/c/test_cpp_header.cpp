// test_cpp_header: the header compiles as C++ (-std=c++11 -Wall -Wextra
// -Werror -Wpedantic) and its functions link with C linkage: if the
// `extern "C"` block were missing, every call below would refer to a
// C++-mangled name and the link would fail.
//
// Optional environment: BB_TEST_BASE_URL (a running bb-stand-in-server
// --demo, default key) adds a real download through a client.
//
// Prints TAP-style lines and "N passed, M failed"; exits 1 if a check failed.

#include "browserbase.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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
}

// RAII owner of a bb_error, the way C++ callers would wrap it.
struct Error {
    bb_error *ptr = nullptr;
    Error() = default;
    Error(const Error &) = delete;
    Error &operator=(const Error &) = delete;
    ~Error() { bb_error_free(ptr); }
    std::string message() const { return bb_error_message(ptr); }
};

// A C callback implemented in C++: only the function pointer type matters.
extern "C" int append_chunk(void *user_data, const uint8_t *data, size_t len) {
    static_cast<std::string *>(user_data)->append(reinterpret_cast<const char *>(data), len);
    return 0;
}

}  // namespace

int main() {
    check(std::strcmp(bb_version(), BB_VERSION_STRING) == 0, "bb_version() == BB_VERSION_STRING",
          bb_version());
    check(std::strcmp(bb_code_name(BB_ERR_NOT_FOUND), "BB_ERR_NOT_FOUND") == 0,
          "bb_code_name(BB_ERR_NOT_FOUND)", bb_code_name(BB_ERR_NOT_FOUND));
    check(BB_OK == 0 && BB_ERR_INVALID_ARGUMENT == 1 && BB_ERR_INTERNAL == 14,
          "the codes' numeric values");

    // A builder round trip.
    bb_client_builder *builder = bb_client_builder_new();
    check(builder != nullptr, "bb_client_builder_new()");
    {
        Error err;
        check(bb_client_builder_set_base_url(builder, "https://api.browserbase.com", &err.ptr) ==
                  BB_OK,
              "set_base_url https://api.browserbase.com", err.message());
    }
    {
        Error err;
        check(bb_client_builder_set_user_agent_suffix(builder, "cpp-test/1", &err.ptr) == BB_OK,
              "set_user_agent_suffix", err.message());
    }
    {
        Error err;
        bb_code rc = bb_client_builder_set_base_url(builder, "http://example.com", &err.ptr);
        check(rc == BB_ERR_INVALID_ARGUMENT && bb_error_code(err.ptr) == rc &&
                  err.message().find("base_url") != std::string::npos,
              "set_base_url http://example.com -> BB_ERR_INVALID_ARGUMENT",
              std::string(bb_code_name(rc)) + ": " + err.message());
    }
    bb_client *client = nullptr;
    {
        Error err;
        check(bb_client_new(builder, &client, &err.ptr) == BB_OK && client != nullptr,
              "bb_client_new", err.message());
    }
    bb_client_free(client);
    bb_client_builder_free(builder);

    // A failing download: bad arguments, nothing sent.
    {
        Error err;
        bb_code rc = bb_download_session(nullptr, nullptr, "out.zip", &err.ptr);
        check(rc == BB_ERR_INVALID_ARGUMENT && bb_error_http_status(err.ptr) == 0 &&
                  err.message().find("session_id") != std::string::npos,
              "bb_download_session(session_id NULL) -> BB_ERR_INVALID_ARGUMENT",
              std::string(bb_code_name(rc)) + ": " + err.message());
    }
    {
        Error err;
        uint8_t *data = nullptr;
        size_t len = 0;
        bb_code rc = bb_download_session_to_buffer("", "s", &data, &len, &err.ptr);
        check(rc == BB_ERR_INVALID_ARGUMENT && data == nullptr,
              "bb_download_session_to_buffer(api_key \"\") -> BB_ERR_INVALID_ARGUMENT",
              err.message());
    }

    // A real download, when a stand-in server is given.
    const char *base_url = std::getenv("BB_TEST_BASE_URL");
    if (base_url != nullptr && *base_url != '\0') {
        bb_client_builder *b = bb_client_builder_new();
        bb_client *c = nullptr;
        Error err;
        bb_code rc = bb_client_builder_set_base_url(b, base_url, &err.ptr);
        if (rc == BB_OK) rc = bb_client_builder_set_api_key(b, "bb_test_key", &err.ptr);
        if (rc == BB_OK) rc = bb_client_new(b, &c, &err.ptr);
        bb_client_builder_free(b);
        check(rc == BB_OK, "a client for the stand-in server", err.message());

        uint8_t *data = nullptr;
        size_t len = 0;
        Error err2;
        rc = bb_client_download_to_buffer(c, nullptr, "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80",
                                          &data, &len, &err2.ptr);
        check(rc == BB_OK && len > 4 && std::memcmp(data, "PK\x03\x04", 4) == 0,
              "bb_client_download_to_buffer: the demo archive", err2.message());

        std::string streamed;
        Error err3;
        rc = bb_client_download_to_callback(c, nullptr, "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80",
                                            append_chunk, &streamed, &err3.ptr);
        check(rc == BB_OK && data != nullptr && streamed.size() == len &&
                  std::memcmp(streamed.data(), data, len) == 0,
              "bb_client_download_to_callback with a C++ callback: the same bytes",
              err3.message());
        if (data != nullptr) bb_buffer_free(data, len);
        bb_client_free(c);
    } else {
        std::printf("# BB_TEST_BASE_URL not set: skipped the download through a client\n");
    }

    std::printf("%d passed, %d failed\n", checks_run - checks_failed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}
