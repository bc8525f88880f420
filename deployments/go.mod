module github.com/fanout-dev/fanout/deployments

go 1.26.0
