"""The stage: what the audience sees and what drives it. The preview (torch render threads
or a GL shader), the transport and timelines, the show editor, the reactivity panel, and
the output window for a second screen. All of it draws the engine Scene the Stage holds."""
