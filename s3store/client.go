package s3store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DefaultRegion is the region of [NewClient]'s clients, and of
// [DefaultClient]'s when the configuration names none.
const DefaultRegion = "us-east-1"

// DefaultClient returns a client from the default AWS configuration
// (environment, shared files, instance roles), with path-style addressing
// when it names another endpoint, and checksums only where S3 requires
// them, so that S3-compatible servers work.
func DefaultClient(ctx context.Context, optFns ...func(*config.LoadOptions) error) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("s3store: loading the default AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if o.BaseEndpoint != nil || cfg.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
		compatible(o)
	}), nil
}

// NewClient returns a client for an S3-compatible server at endpoint (such
// as "http://127.0.0.1:7070") with static credentials, path-style
// addressing and region [DefaultRegion].
func NewClient(endpoint, accessKey, secretKey string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       DefaultRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		UsePathStyle: true,
	}, compatible)
}

func compatible(o *s3.Options) {
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
}
