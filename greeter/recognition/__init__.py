"""The recognition core: who is in a picture, and how sure we are.

Owns: loading a photo (`imaging`: EXIF orientation, HEIC/AVIF, bounded memory), the face
models (`faces`: HOG detection, 5-point alignment, the ResNet embedding, the only dlib
importer; `sface`: the second model, YuNet + SFace through OpenCV; `figures`: each model's
distances), matching an embedding against a gallery (`matching`: pure numpy), the
track rule that turns a live track's votes into an identity (`votes`, pure), its calibration
(`calibration`) and `recogniser.Recogniser`, which puts them together for a photo or a frame.

Exports: `imaging.load_rgb`, `faces.FaceEngine`, `sface.SFaceEngine`, `figures.FIGURES`,
`matching.Gallery`, `matching.match_faces`, `votes.Vote`, `votes.settle`,
`calibration.choose_track_policy`, `recogniser.Recogniser`.

May import: ground
"""
