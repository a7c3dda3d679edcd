"""JCM: joint coding-modulation for digital semantic communications via a VAE (Bo, Duan, Shao,
Tao; ``../shared/seeds/jcm-joint-coding-modulation-vae.txt``).

The encoder outputs, per transmitted symbol, logits over the sqrt(M) amplitude levels of the I
rail and of the Q rail (Prop. 2, eq. 10); each rail is drawn with the straight-through
Gumbel-softmax (eqs. 15-19) in training *and* at test time; the power is normalised over the
symbols actually drawn; the receiver decodes the soft received symbols. What is learned is how
often each point of the fixed rectangular QAM is used (probabilistic shaping, Section IV-D).

* :mod:`trainer.jcm.modulation`: the QAM levels and labels, Gumbel-max / straight-through
  sampling, power normalisation (NumPy and Keras forms of each rule);
* :mod:`trainer.jcm.model`: the networks and the training graph, loss eq. (13);
* :mod:`trainer.jcm.train`: ``train(...)`` -> run folder;
* :mod:`trainer.jcm.run`: ``load_run`` -> transmitters / receivers for :mod:`trainer.sweep`,
  :func:`~trainer.jcm.run.usage_histogram`.

Open choices are documented in ``docs/schemes.md`` (## JCM).
"""

NAME = "jcm"
