//! [`Panes`]: at phone width the conversation list and the open conversation are two
//! views, one at a time; this is which one shows. Only the person's own moves change it
//! (opening a conversation, going back, starting a new one), never an arriving message.
//! At desktop width both always show.

use leptos::prelude::*;

/// One of the two views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The conversation list.
    List,
    /// The open conversation, with the composer.
    Chat,
}

impl Pane {
    /// The name used in the page (`data-pane`).
    pub fn name(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Chat => "chat",
        }
    }
}

/// Which view shows at phone width; `Copy`.
#[derive(Clone, Copy)]
pub struct Panes(RwSignal<Pane>);

impl Panes {
    /// Showing `pane` first.
    pub fn new(pane: Pane) -> Self {
        Self(RwSignal::new(pane))
    }

    /// The view showing.
    pub fn current(self) -> Pane {
        self.0.get()
    }

    /// Shows `pane`.
    pub fn show(self, pane: Pane) {
        self.0.set(pane);
    }
}
