//! Conversions between the SDK's native types and the generated WIT binding
//! types. Compiled on every target so they are type-checked by native builds too.

use crate::bindings::dialsync::plugin::{host as wit_host, types as wit};
use crate::{
    ActionError, ActionInfo, ContactChange, FieldError, LogLevel, MapOutcome, Operation, Phone,
    PhoneError, PluginInfo,
};

impl From<Operation> for wit::Operation {
    fn from(op: Operation) -> Self {
        match op {
            Operation::Upsert => Self::Upsert,
            Operation::DoNotCall => Self::DoNotCall,
            Operation::Remove => Self::Remove,
        }
    }
}

impl From<ContactChange> for wit::ContactChange {
    fn from(c: ContactChange) -> Self {
        Self {
            external_id: c.external_id,
            source_id: c.source_id,
            source_updated_at: c.source_updated_at,
            operation: c.operation.into(),
            partial: c.partial,
            columns: c.columns,
            phones: c
                .phones
                .into_iter()
                .map(|Phone { column, number }| wit::Phone { column, number })
                .collect(),
            callable: c.callable,
        }
    }
}

impl From<FieldError> for wit::FieldError {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            code: e.code,
            message: e.message,
        }
    }
}

impl From<MapOutcome> for wit::MapOutcome {
    fn from(o: MapOutcome) -> Self {
        match o {
            MapOutcome::Change(c) => Self::Change(c.into()),
            MapOutcome::Changes(cs) => Self::Changes(cs.into_iter().map(Into::into).collect()),
            MapOutcome::Skip(reason) => Self::Skip(reason),
            MapOutcome::Reject(errors) => {
                Self::Reject(errors.into_iter().map(Into::into).collect())
            }
        }
    }
}

impl From<ActionInfo> for wit::ActionInfo {
    fn from(a: ActionInfo) -> Self {
        Self {
            name: a.name,
            description: a.description,
            input_schema: a.input_schema,
            output_schema: a.output_schema,
        }
    }
}

impl From<PluginInfo> for wit::PluginInfo {
    fn from(p: PluginInfo) -> Self {
        Self {
            name: p.name,
            version: p.version,
            source_kind: p.source_kind,
            input_schema: p.input_schema,
            config_schema: p.config_schema,
            columns: p.columns,
            phone_columns: p.phone_columns,
            actions: p.actions.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ActionError> for wit::ActionError {
    fn from(e: ActionError) -> Self {
        Self {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<LogLevel> for wit_host::LogLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => Self::Trace,
            LogLevel::Debug => Self::Debug,
            LogLevel::Info => Self::Info,
            LogLevel::Warn => Self::Warn,
            LogLevel::Error => Self::Error,
        }
    }
}

impl From<wit_host::PhoneError> for PhoneError {
    fn from(e: wit_host::PhoneError) -> Self {
        Self {
            code: e.code,
            message: e.message,
        }
    }
}
