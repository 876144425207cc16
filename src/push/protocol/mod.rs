//! The push ("ADMS"/"iclock") protocol's texts, parsed and rendered with no
//! I/O (`../shared/protocol/push-protocol.md`). Every parser takes untrusted
//! bytes and never panics; a line it cannot use is skipped and reported
//! with a [`Skipped`] reason, never failing the rest of the body.

mod attlog;
mod capabilities;
mod command;
mod devicecmd;
mod handshake;
mod lines;
mod operlog;
mod query;
mod template_command;
mod templates;

pub use attlog::{parse_attlog, parse_attlog_chunk, render_attlog_line, AttlogBatch, AttlogRecord};
pub use capabilities::{
    multi_bio_support, multi_bio_versions, versions_from_info, versions_from_options, BioVersions,
};
pub use command::{
    command_line, parse_command_line, redact_command, render_poll, CommandError, PushCommand, MASK,
    MAX_POLL_BYTES, MAX_POLL_COMMANDS,
};
pub use devicecmd::{parse_devicecmd, render_command_result, CommandResult, DevicecmdBatch};
pub use handshake::{
    parse_handshake, parse_options_body, render_handshake, template_trans_flag, HandshakeOptions,
    PushTimeZone, TRANS_FLAG,
};
pub use lines::{Chunk, LineChunks, SkipReason, Skipped, CHUNK, MAX_LINE};
pub use operlog::{
    parse_operlog, parse_operlog_chunk, parse_operlog_in, render_user_line, OperlogBatch, PushUser,
};
pub use query::{parse_query, DeviceInfo, IclockQuery, QueryError, Table};
pub use template_command::{TemplateCommand, TemplateCommandError, MAX_FACE_INDEX};
pub use templates::{
    is_template_line, parse_template_line, parse_templates, render_template_line, AlgorithmVersion,
    BioType, PushTemplate, TemplateBatch, TemplateBytes, TemplateError, TemplateLine, MAX_FINGER,
    MAX_TEMPLATE_BYTES, MAX_TEMPLATE_TEXT,
};
