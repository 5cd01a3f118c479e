"""`python -m caption.train`: train the captioner's cross-entropy stage (the one decoder on the
detector's regions and bag); every flag is caption.train.stages.one_captioner's. `make train`
runs every stage, from reading the photos to the bundle."""

from caption.train.stages.one_captioner import main

if __name__ == "__main__":
    main()
