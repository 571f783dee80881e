module github.com/browserbase/libbrowserbase/bindings/go

go 1.19
