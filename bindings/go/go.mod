module github.com/cacheness/cacheness/bindings/go

go 1.26.8
