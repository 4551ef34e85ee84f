"""The kiosk screen: the only pygame importer.

Owns: where everything goes at any size (`layout`, pure geometry), fonts and text that fits
(`text`: emoji, right to left, Chinese/Japanese/Korean), the host's logo and background
pictures with bounded memory (`images`), pygame imported quietly (`sdl`), and
`display.Screen`, which draws a `display.Scene` (plain values: texts, colours, the camera
picture) and knows nothing of faces, people or greetings files.

Exports: `display.Screen`, `display.Scene`, `display.Style`, `display.ShownGreeting`,
`text.undrawable_warnings` (what the fonts cannot draw), `images.check_screen_image`.

May import: ground, recognition
"""
