-- Online exporters (`*http_post`, `*http_json_map`, `*nats_json_map`): each CDR sent as it is
-- closed, through the same cursor and pending range as file exports.
ALTER TABLE cdr_exporters DROP CONSTRAINT cdr_exporters_kind_check;
ALTER TABLE cdr_exporters ADD CONSTRAINT cdr_exporters_kind_check
    CHECK (kind IN ('*file_csv', '*file_json', '*s3_csv', '*s3_json_map',
                    '*http_post', '*http_json_map', '*nats_json_map'));
-- The online exporters' lookup: those with a CDR after their cursor.
CREATE INDEX cdr_exporters_online ON cdr_exporters (kind)
    WHERE kind IN ('*http_post', '*http_json_map', '*nats_json_map');
