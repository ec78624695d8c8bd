//! The app's components, each named after what the user sees.

mod announcer;
pub mod composer;
mod connection_status;
mod conversation_header;
mod conversation_list;
mod conversation_view;
mod identity_card;
mod link_question;
mod linked_devices;
mod notifications;

pub use announcer::Announcer;
pub use composer::Composer;
pub use connection_status::ConnectionStatus;
pub use conversation_header::ConversationHeader;
pub use conversation_list::ConversationList;
pub use conversation_view::ConversationView;
pub use identity_card::IdentityCard;
pub use link_question::LinkQuestion;
pub use linked_devices::LinkedDevices;
pub use notifications::Notifications;
