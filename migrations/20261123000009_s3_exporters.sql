-- simledger-exporters / CDR exporters: `*s3_csv` writes each range as an S3 object
-- (export_path `s3://bucket/prefix`), completed by a multipart upload.
ALTER TABLE cdr_exporters DROP CONSTRAINT cdr_exporters_kind_check;
ALTER TABLE cdr_exporters ADD CONSTRAINT cdr_exporters_kind_check CHECK (kind IN ('*file_csv', '*s3_csv'));
