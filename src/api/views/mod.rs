//! The API's JSON shapes of what `store` returns.
//!
//! `store` returns rows and domain values and knows nothing of the OpenAPI document; each
//! type here mirrors one of those values field for field, carries its serde attributes (so
//! the JSON is the value's own) and its documentation, derives `ToSchema`, and is built from
//! the value with `From`. A type here has the same name as the value it shows, which is also
//! its schema's name in the document. Handlers convert at the last step, with `.into()` for
//! one value or [`IntoView::into_view`] for a page, list or option of them.
//!
//! [`view!`] writes each type and its conversion from one field list, so the two cannot
//! drift apart: a field the value lacks does not compile.

pub mod admin;
pub mod attendance;
pub mod bookings;
pub mod courses;
pub mod evaluation;
pub mod export;
pub mod people;
pub mod reference;

use chrono::NaiveDateTime;

use crate::domain::attendance::{AttendanceStatus, Source};
use crate::domain::booking::BookingStatus;
use crate::domain::course::Venue;
use crate::domain::evaluation::ChoiceOption;
use crate::domain::gias::Rejected;
use crate::domain::paging::Page;
use crate::domain::provider::ProviderKind;
use crate::domain::roles::Role;
use crate::domain::school::Phase;
use crate::domain::suppression::Cell;
use crate::store::evaluation::KindResults;

/// A store value (or a page, list or option of them) turned into its API shape. Values that
/// are already their own shape (numbers, text, times, the domain's enums) stay as they are.
pub trait IntoView<T> {
    /// The API shape of `self`.
    fn into_view(self) -> T;
}

macro_rules! as_is {
    ($($t:ty),* $(,)?) => {$(
        impl IntoView<$t> for $t {
            fn into_view(self) -> $t {
                self
            }
        }
    )*};
}

as_is!(
    String,
    bool,
    i32,
    i64,
    u32,
    u64,
    usize,
    f64,
    NaiveDateTime,
    serde_json::Value,
    AttendanceStatus,
    BookingStatus,
    ChoiceOption,
    Cell<KindResults>,
    Phase,
    ProviderKind,
    Rejected,
    Role,
    Source,
    Venue,
);

impl<T: IntoView<U>, U> IntoView<Option<U>> for Option<T> {
    fn into_view(self) -> Option<U> {
        self.map(IntoView::into_view)
    }
}

impl<T: IntoView<U>, U> IntoView<Vec<U>> for Vec<T> {
    fn into_view(self) -> Vec<U> {
        self.into_iter().map(IntoView::into_view).collect()
    }
}

impl<T: IntoView<U>, U> IntoView<Page<U>> for Page<T> {
    fn into_view(self) -> Page<U> {
        Page {
            items: self.items.into_view(),
            total: self.total,
        }
    }
}

/// Writes API shapes: each `pub struct Name from path::to::Value { fields }` becomes the
/// struct as written, `From<Value>` for it (each field converted with [`IntoView`]), and
/// `IntoView<Name>` for the value.
macro_rules! view {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident from $src:path {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl From<$src> for $name {
            fn from(value: $src) -> Self {
                Self {
                    $($field: $crate::api::views::IntoView::into_view(value.$field),)*
                }
            }
        }

        impl $crate::api::views::IntoView<$name> for $src {
            fn into_view(self) -> $name {
                $name::from(self)
            }
        }
    )*};
}
use view;
