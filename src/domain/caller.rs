//! Who is asking: the signed-in person as the permission rules see them.

use crate::domain::roles::Role;

/// A signed-in person, as the permission rules need them.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The person's id.
    pub person_id: String,
    /// Their school, if they belong to one.
    pub school_id: Option<String>,
    /// Their roles (everyone acts as `staff` for themselves).
    pub roles: Vec<Role>,
}

impl Caller {
    /// Whether the caller holds a role.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }
}
