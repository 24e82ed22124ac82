"""FactorVAE (Kim & Mnih, protocol §6): ``recon + |KL − 50| + γ · TC``, with a discriminator estimating TC.

Each batch is split in two halves. The first trains the VAE; its total correlation is estimated as
``mean(D(z)[:, 0] − D(z)[:, 1])``, the discriminator's logit of "from q(z)" minus that of "permuted".
The second half is encoded and each latent dimension shuffled independently across it, giving samples
of the product of the marginals. The discriminator then learns, with its own optimiser and from its own
loss only, to tell the first half's codes (gradients stopped: class 0) from the permuted ones (class 1).
"""
from __future__ import annotations

import gin
import keras
from keras import ops

from benchmarks.models import build_discriminator
from benchmarks.objectives import differentiation
from benchmarks.objectives.vae import VAE


def permute_dims(z, seed):
    """Shuffles each column of ``z`` (batch, latent) independently: a sample of ∏_j q(z_j)."""
    order = ops.argsort(keras.random.uniform(ops.shape(z), seed=seed), axis=0)
    return ops.take_along_axis(z, order, axis=0)


def _default_discriminator_optimizer():
    # protocol §6: the discriminator's Adam uses β1 0.8, β2 0.9 (the VAE's 0.9, 0.999).
    return keras.optimizers.Adam(learning_rate=1e-4, beta_1=0.8, beta_2=0.9, epsilon=1e-8)


@gin.configurable
class FactorVAE(VAE):
    method = "factor_vae"
    hyperparameter_name = "gamma"

    def __init__(self, architecture, gamma: float = 10.0, kl_target: float = 50.0,
                 discriminator=build_discriminator, discriminator_optimizer=None, steps_per_epoch: int = 1):
        del steps_per_epoch  # no schedule: FactorVAE neither warms up nor anneals (protocol §6)
        super().__init__(architecture)
        self.gamma, self.kl_target = float(gamma), float(kl_target)
        self.discriminator = discriminator(self.encoder.output[0].shape[-1])
        self.discriminator_optimizer = discriminator_optimizer or _default_discriminator_optimizer()
        self.permutation_seed = keras.random.SeedGenerator()

    @property
    def hyperparameter_value(self) -> float:
        return self.gamma

    def tracked_names(self):
        return super().tracked_names() + ("total_correlation", "discriminator_loss", "discriminator_accuracy")

    @property
    def optimizers(self):
        return [self.optimizer, self.discriminator_optimizer]

    def build_optimizers(self):
        super().build_optimizers()
        self.discriminator_optimizer.build(self.discriminator.trainable_weights)

    def total_correlation(self, z):
        logits = self.discriminator(z)
        return ops.mean(logits[:, 0] - logits[:, 1])

    def objective(self, terms, step):
        total_correlation = self.total_correlation(terms.z)
        loss = terms.reconstruction + ops.abs(terms.kl - self.kl_target) + self.gamma * total_correlation
        return loss, {"total_correlation": total_correlation}

    def discriminator_terms(self, z_joint, z_permuted):
        """Softmax cross-entropy of telling q(z) samples (class 0) from permuted ones (class 1), with
        the codes' gradients stopped, averaged over the two classes; and the discriminator's accuracy."""
        losses, accuracies = [], []
        for label, z in enumerate((z_joint, z_permuted)):
            logits = self.discriminator(ops.stop_gradient(z), training=True)
            labels = ops.full((ops.shape(logits)[0],), label, dtype="int32")
            losses.append(ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)))
            accuracies.append(ops.mean(ops.cast(ops.equal(ops.argmax(logits, -1), label), "float32")))
        return (losses[0] + losses[1]) / 2, (accuracies[0] + accuracies[1]) / 2

    def permuted_codes(self, inputs, training: bool):
        """Samples of the product of the marginals from a batch the VAE does not train on."""
        z_mean, z_log_std = self.encode(inputs, training)
        return permute_dims(self.sampling(z_mean, z_log_std), self.permutation_seed)

    def training_step(self, data):
        inputs = keras.utils.unpack_x_y_sample_weight(data)[0]
        half = ops.shape(inputs)[0] // 2
        # Both halves are encoded by the same encoder, before either network moves.
        z_permuted = self.permuted_codes(inputs[half:2 * half], training=True)

        def vae_loss():
            terms = self.terms(inputs[:half], training=True)
            loss, logs = self.objective(terms, self.optimizer.iterations)
            return loss, (terms, logs)

        weights = self.vae_weights
        loss, (terms, logs), gradients = differentiation.value_and_gradients(vae_loss, weights, self.step_variables)
        differentiation.apply_gradients(self.optimizer, gradients, weights)

        def discriminator_loss():
            return self.discriminator_terms(terms.z, z_permuted)

        weights = self.discriminator.trainable_weights
        discriminator_loss, discriminator_accuracy, gradients = differentiation.value_and_gradients(
            discriminator_loss, weights, self.step_variables)
        differentiation.apply_gradients(self.discriminator_optimizer, gradients, weights)
        return self.record(loss, terms, discriminator_loss=discriminator_loss,
                           discriminator_accuracy=discriminator_accuracy, **logs)

    def evaluation_step(self, data):
        """Scores the whole batch (every test example counts towards the reconstruction accuracy);
        the discriminator compares its first half's codes with its second half's, permuted."""
        inputs = keras.utils.unpack_x_y_sample_weight(data)[0]
        terms = self.terms(inputs, training=False)
        loss, logs = self.objective(terms, self.optimizer.iterations)
        half = ops.shape(terms.z)[0] // 2
        z_permuted = permute_dims(terms.z[half:2 * half], self.permutation_seed)
        discriminator_loss, discriminator_accuracy = self.discriminator_terms(terms.z[:half], z_permuted)
        return self.record(loss, terms, discriminator_loss=discriminator_loss,
                           discriminator_accuracy=discriminator_accuracy, **logs)
